"""Vigía hub: keeps the log of sightings, their images and the models; feeds watchers."""

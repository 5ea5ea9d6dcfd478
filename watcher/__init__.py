"""Vigía watcher: the live log of sightings, with photos, on a laptop."""

"""Vigía edge: runs the int8 model on every camera's frames and reports each sighting."""

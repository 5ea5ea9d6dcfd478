"""Datasets: a folder with one subfolder per class; checking, importing, splitting."""

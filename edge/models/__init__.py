"""The models an edge runs: verified, smoke-tested, swapped in between frames, rolled back."""

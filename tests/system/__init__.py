"""System tests: every part as its own program, over real (or stand-in) networks."""

# Shortcuts for the scripts; CAMERAS=N changes how many scene cameras the demo's edge watches.
CAMERAS ?= 4
VENV ?= .venv

.PHONY: demo test diagrams

demo:
	CAMERAS=$(CAMERAS) bash scripts/demo.sh

test:
	bash scripts/test.sh

diagrams:
	$(VENV)/bin/python docs/diagrams/render.py

"""The whole system on one machine: `vigia-demo` and the helpers its tests and benchmarks share.

`processes` starts and stops the parts as separate programs, `system` sets each part up as an
operator would (datasets, keys, workers, hub, video server, edge, model push), `truth` scores
the hub's events against the scene cameras' ground truth, and `cli` is the demo's entry.
"""

"""The Tk desktop app: the table of sightings, the snapshot view, filters, counts, the panel
of edges and cameras, and the connection state. Only the Tk thread touches these widgets."""

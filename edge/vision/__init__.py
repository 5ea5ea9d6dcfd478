"""The edge's vision: motion gating, crops, the int8 classifier, tracking, snapshots, and the
per-camera pipeline that joins them into sightings."""

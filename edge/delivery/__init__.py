"""Getting sightings to the hub: the on-disk spool and the uplink that drains it."""

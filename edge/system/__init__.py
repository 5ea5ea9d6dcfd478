"""The edge's ties to its machine: node metrics, systemd notifications, signals, safe files."""

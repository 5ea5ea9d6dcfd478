"""The latest health of every edge, as watchers see it."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from hub.db import Reader
from hub.jobs import now_ms
from wire import messages as m


@dataclass
class EdgeState:
    """One edge: connected or not, when last heard from, and its last status."""

    online: bool
    last_seen_ms: int
    node: m.NodeStatus | None


class StatusBoard:
    """In-memory latest state per edge (the database keeps the statuses across restarts)."""

    def __init__(self) -> None:
        self._edges: dict[str, EdgeState] = {}
        self._lock = threading.Lock()

    def load(self, reader: Reader) -> None:
        """Start from the statuses saved before a restart, every edge offline until it dials."""
        for row in reader.db().execute("SELECT * FROM edge_status"):
            node = m.NodeStatus.model_validate_json(row["node"])
            self._edges[row["edge"]] = EdgeState(False, row["received_ms"], node)

    def connected(self, edge: str, online: bool) -> None:
        """An edge's session began or ended."""
        with self._lock:
            state = self._edges.setdefault(edge, EdgeState(online, now_ms(), None))
            state.online, state.last_seen_ms = online, now_ms()

    def reported(self, edge: str, node: m.NodeStatus) -> None:
        """An edge sent its status."""
        with self._lock:
            self._edges[edge] = EdgeState(True, now_ms(), node)

    def notices(self, edges: set[str] | None = None) -> list[m.StatusNotice]:
        """Status notices for these edges (None: all)."""
        with self._lock:
            return [
                m.StatusNotice(edge=name, online=s.online, last_seen_ms=s.last_seen_ms, node=s.node)
                for name, s in sorted(self._edges.items())
                if edges is None or name in edges
            ]

"""Peer roles, and what each role may send to the hub.

The hub enforces these tables on every frame after the handshake: a watcher can only read,
an edge can only report, a trainer can only publish models.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Who a peer is; fixed when the hub issues its credential."""

    EDGE = "edge"
    WATCHER = "watcher"
    TRAINER = "trainer"
    ADMIN = "admin"


SESSION_KINDS = frozenset({"ping", "pong", "error", "bye"})
"""Kinds every authenticated peer may send: keepalive, errors and a clean close."""

HUB_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.EDGE: frozenset({"event", "event_end", "status", "model_report"}),
    Role.WATCHER: frozenset({"subscribe", "snapshot_request"}),
    Role.TRAINER: frozenset({"model_upload", "model_assign", "model_list_request"}),
    Role.ADMIN: frozenset(
        {"subscribe", "snapshot_request", "model_upload", "model_assign", "model_list_request"}
    ),
}
"""Message names each role may send to the hub, beyond SESSION_KINDS."""


def may_send(permissions: dict[Role, frozenset[str]], role: Role, name: str) -> bool:
    """True if a peer of `role` may send messages named `name` under `permissions`."""
    return name in SESSION_KINDS or name in permissions.get(role, frozenset())


WORKER_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.TRAINER: frozenset(
        {
            "worker_info_request",
            "dataset_offer",
            "dataset_upload",
            "job_prepare",
            "job_start",
            "job_cancel",
        }
    ),
}
"""Message names a trainer (the coordinator) may send to a trainer worker, beyond SESSION_KINDS;
no other role may send a worker anything."""

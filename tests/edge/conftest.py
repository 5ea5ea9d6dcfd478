"""The edge's tests share the hub's fixtures: a real hub in this process."""

from tests.hub.conftest import hub, start_hub

__all__ = ["hub", "start_hub"]

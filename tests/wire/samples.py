"""One valid example of every message kind (a test fails if a kind has none)."""

from __future__ import annotations

from tests.trainer.distributed.samples import WORKER_SAMPLES
from wire import messages as m
from wire.roles import Role

EID = "0b7e4c1e-7f43-4c1a-9a53-3f1f8f0c2a11"
END_ID = "5d0c1f6a-2b8e-4c7d-8e9f-0a1b2c3d4e5f"
HEX = "ab" * 32
BOX = m.Box(x=10, y=20, w=64, h=48)
NODE = m.NodeStatus(
    sent_at=1_700_000_000_000,
    model_version="v3",
    cpu_load=0.7,
    cpu_temp_c=61.5,
    throttled=["soft_temp_limit"],
    cameras=[
        m.CameraStatus(
            camera="door",
            online=True,
            fps=9.8,
            inference_ms=23.5,
            frames_in=1000,
            processed=950,
            dropped=50,
            queue_depth=1,
        )
    ],
)

SAMPLES: list[tuple[m.Message, int]] = [
    (m.Hello(versions=[1], peer="edge-1", role=Role.EDGE, nonce=HEX, software="vigia/0.1"), 0),
    (m.Challenge(version=1, hub="hub", nonce=HEX), 0),
    (m.Auth(proof=HEX), 0),
    (m.Welcome(proof=HEX, session="s1", keepalive_s=2.0, dead_after_s=8.0, max_body=1024), 0),
    (m.Ping(sent_ms=5), 0),
    (m.Pong(sent_ms=5), 0),
    (m.Error(code="forbidden", message="no", ref=None, fatal=False), 0),
    (m.Bye(reason="done"), 0),
    (
        m.Event(
            event_id=EID,
            camera="door",
            label="cat",
            score=0.93,
            started_at=1,
            ended_at=2,
            box=BOX,
            model_version="v3",
            snapshot_len=100,
            thumbnail_len=20,
        ),
        120,
    ),
    (
        m.EventEnd(
            end_id=END_ID,
            event_id=EID,
            camera="door",
            label="cat",
            score=0.95,
            ended_at=3,
            box=BOX,
            snapshot_len=100,
            thumbnail_len=20,
        ),
        120,
    ),
    (m.EventAck(event_id=EID, seq=7, duplicate=False), 0),
    (m.Status(node=NODE), 0),
    (
        m.Subscribe(
            after_seq=0,
            cameras=["door"],
            labels=["cat"],
            since_ms=None,
            until_ms=9,
            thumbnails=False,
        ),
        0,
    ),
    (
        m.LogEntry(
            seq=7,
            kind=m.EventKind.SIGHTING,
            event_id=EID,
            edge="edge-1",
            camera="door",
            label="cat",
            score=0.9,
            started_at=1,
            ended_at=2,
            box=BOX,
            model_version="v3",
        ),
        20,
    ),
    (
        m.LogEntry(
            seq=8,
            kind=m.EventKind.SIGHTING_END,
            event_id=END_ID,
            edge="edge-1",
            camera="door",
            label="cat",
            score=0.95,
            started_at=1,
            ended_at=3,
            box=BOX,
            model_version="v3",
            ends=EID,
        ),
        20,
    ),
    (m.CaughtUp(seq=7), 0),
    (m.SnapshotRequest(event_id=EID, thumbnail=False), 0),
    (m.Snapshot(event_id=EID, thumbnail=False), 100),
    (m.StatusNotice(edge="edge-1", online=True, last_seen_ms=5, node=NODE), 0),
    (m.ModelUpload(version="v3", sha256=HEX, size=300), 300),
    (m.ModelStored(version="v3", sha256=HEX), 0),
    (m.ModelAssign(version="v3", edges=[]), 0),
    (m.ModelAssigned(version="v3", edges=["edge-1"]), 0),
    (m.ModelOffer(version="v3", sha256=HEX, size=300), 300),
    (m.ModelReport(version="v3", state="refused", reason="bad signature"), 0),
    (m.ModelListRequest(limit=0), 0),
    (
        m.ModelList(
            models=[
                m.ModelEntry(
                    version="v3", sha256=HEX, size=300, uploaded_ms=5, uploaded_by="trainer-1"
                )
            ],
            edges=[
                m.EdgeModel(
                    edge="edge-1",
                    assigned="v3",
                    reported="v3",
                    state="running",
                    reason="",
                    reported_ms=6,
                ),
                m.EdgeModel(
                    edge="edge-2",
                    assigned=None,
                    reported=None,
                    state=None,
                    reason="",
                    reported_ms=None,
                ),
            ],
        ),
        0,
    ),
]

# The trainer-worker kinds (60+) keep their samples beside their own tests.
SAMPLES += WORKER_SAMPLES

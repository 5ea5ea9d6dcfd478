"""The trainer worker's messages: every kind round-trips, bodies are checked, roles hold."""

from __future__ import annotations

import json

import pytest

from tests.trainer.distributed.samples import HEX, JOB, WORKER_SAMPLES
from wire import messages as m
from wire.errors import MessageError
from wire.roles import HUB_PERMISSIONS, WORKER_PERMISSIONS, Role, may_send

WORKER_KINDS = {cls for code, cls in m.REGISTRY.items() if 60 <= code < 80}


def test_every_worker_kind_has_a_sample() -> None:
    assert {type(msg) for msg, _ in WORKER_SAMPLES} == WORKER_KINDS
    assert len(WORKER_KINDS) == 14


@pytest.mark.parametrize(("msg", "body_len"), WORKER_SAMPLES, ids=lambda v: getattr(v, "NAME", ""))
def test_round_trip(msg: m.Message, body_len: int) -> None:
    decoded = m.decode(msg.KIND, msg.encode())
    assert decoded == msg
    decoded.check_body(body_len)


@pytest.mark.parametrize(
    ("msg", "body_len"),
    [(msg, body_len) for msg, body_len in WORKER_SAMPLES if msg.BODY is m.Body.FILE],
    ids=lambda v: getattr(v, "NAME", ""),
)
def test_a_file_body_must_be_the_size_announced(msg: m.Message, body_len: int) -> None:
    with pytest.raises(MessageError, match=f"message '{msg.NAME}': size {body_len} != body"):
        msg.check_body(body_len + 1)


def test_a_job_start_without_a_checkpoint_has_an_empty_body() -> None:
    start = m.JobStart(
        job=JOB,
        attempt=1,
        spec={"version": "v1"},
        dataset=HEX,
        cluster=["pc-a:7711"],
        index=0,
        checkpoint_epoch=None,
        size=0,
    )
    start.check_body(0)
    with pytest.raises(MessageError):
        start.check_body(1)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("attempt", 0, "greater than or equal to 1"),
        ("port", 70000, "less than or equal to 65535"),
        ("job", "not-a-uuid", "should match pattern"),
    ],
)
def test_bad_job_fields_are_named(field: str, value: object, words: str) -> None:
    payload = {"job": JOB, "attempt": 1, "port": 7711, field: value}
    with pytest.raises(MessageError, match="message 'job_ready'") as caught:
        m.decode(m.JobReady.KIND, json.dumps(payload).encode())
    assert f"field '{field}'" in str(caught.value)
    assert words in str(caught.value)


def test_a_trainer_may_send_a_worker_its_requests_only() -> None:
    for name in ("worker_info_request", "dataset_upload", "job_start", "job_cancel"):
        assert may_send(WORKER_PERMISSIONS, Role.TRAINER, name)
    for name in ("job_done", "job_result", "worker_info", "model_upload", "event"):
        assert not may_send(WORKER_PERMISSIONS, Role.TRAINER, name)


def test_no_other_role_may_send_a_worker_anything_but_session_kinds() -> None:
    for role in (Role.EDGE, Role.WATCHER, Role.ADMIN):
        for cls in WORKER_KINDS:
            assert not may_send(WORKER_PERMISSIONS, role, cls.NAME)
        assert may_send(WORKER_PERMISSIONS, role, "ping")


def test_the_hub_accepts_no_worker_message() -> None:
    for role in Role:
        for cls in WORKER_KINDS:
            assert not may_send(HUB_PERMISSIONS, role, cls.NAME)

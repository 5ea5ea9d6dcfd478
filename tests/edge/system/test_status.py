"""Node metrics from injectable sources: load per CPU, the SoC temperature, and the Pi's
throttling bits decoded into names; a missing source means "unknown", never an error."""

from __future__ import annotations

import stat
from pathlib import Path

from edge.system.status import (
    StatusSource,
    SystemProbe,
    SystemSources,
    decode_throttled,
    parse_throttled,
)
from wire import messages as m


def _fake_vcgencmd(folder: Path, answer: str, code: int = 0) -> tuple[str, ...]:
    script = folder / "vcgencmd"
    script.write_text(
        f'#!/bin/sh\n[ "$1" = get_throttled ] || exit 2\necho "{answer}"\nexit {code}\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return (str(script), "get_throttled")


def _sources(tmp_path: Path, **changes: object) -> SystemSources:
    (tmp_path / "loadavg").write_text("2.00 1.50 1.00 3/245 1234\n")
    (tmp_path / "temp").write_text("48312\n")
    fields: dict[str, object] = {"loadavg": tmp_path / "loadavg", "thermal": tmp_path / "temp"}
    fields["cpu_count"] = 4
    fields.update(changes)
    if "throttle_command" not in fields:
        fields["throttle_command"] = _fake_vcgencmd(tmp_path, "throttled=0x50005")
    return SystemSources(**fields)  # type: ignore[arg-type]


def test_throttle_bits_are_named() -> None:
    assert decode_throttled(0) == ()
    assert decode_throttled(0x50005) == (
        "under_voltage",
        "throttled",
        "under_voltage_occurred",
        "throttled_occurred",
    )
    assert decode_throttled(0x8000A) == (
        "frequency_capped",
        "soft_temp_limit",
        "soft_temp_limit_occurred",
    )
    assert parse_throttled("throttled=0x50005\n") == 0x50005
    assert parse_throttled("error=1 error_msg=...") is None


def test_a_pi_reports_load_temperature_and_throttling(tmp_path: Path) -> None:
    metrics = SystemProbe(_sources(tmp_path)).read()
    assert metrics.cpu_load == 0.5  # 2.0 over 4 CPUs
    assert metrics.cpu_temp_c == 48.312
    assert metrics.throttled == (
        "under_voltage",
        "throttled",
        "under_voltage_occurred",
        "throttled_occurred",
    )


def test_missing_sources_mean_unknown(tmp_path: Path) -> None:
    sources = _sources(
        tmp_path,
        thermal=tmp_path / "no-such-zone",
        throttle_command=(str(tmp_path / "no-vcgencmd"), "get_throttled"),
    )
    metrics = SystemProbe(sources).read()
    assert metrics.cpu_temp_c is None and metrics.throttled == ()
    assert metrics.cpu_load >= 0


def test_a_failing_throttle_command_gives_no_flags_this_time(tmp_path: Path) -> None:
    sources = _sources(tmp_path, throttle_command=_fake_vcgencmd(tmp_path, "busy", code=1))
    assert SystemProbe(sources).read().throttled == ()


def test_the_node_status_holds_cameras_model_metrics_and_extra_flags(tmp_path: Path) -> None:
    camera = m.CameraStatus(
        camera="door",
        online=True,
        fps=9.5,
        inference_ms=31.0,
        frames_in=100,
        processed=95,
        dropped=5,
        queue_depth=1,
    )
    source = StatusSource(
        lambda: [camera],
        lambda: "v3",
        probe=SystemProbe(_sources(tmp_path)),
        extra_flags=lambda: ["spool_nearly_full"],
        clock=lambda: 1_796_000_000.25,
    )
    assert source() == m.NodeStatus(
        sent_at=1_796_000_000_250,
        model_version="v3",
        cpu_load=0.5,
        cpu_temp_c=48.312,
        throttled=[
            "under_voltage",
            "throttled",
            "under_voltage_occurred",
            "throttled_occurred",
            "spool_nearly_full",
        ],
        cameras=[camera],
    )

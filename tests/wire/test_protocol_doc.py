"""docs/protocol.md and wire/ describe the same protocol: kinds, fields and error codes."""

from __future__ import annotations

import re
from pathlib import Path

from wire import messages as m
from wire.errors import ErrorCode
from wire.frame import HEADER_SIZE, MAGIC, MAX_JSON, PROTOCOL_VERSIONS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
HEADING = re.compile(r"^#### `(\w+)` \(kind (\d+), [^,]+, (no|bytes|file) body\)$", re.M)
BODIES = {"no": m.Body.NONE, "bytes": m.Body.BYTES, "file": m.Body.FILE}


def documented_messages() -> dict[str, tuple[int, m.Body, list[str]]]:
    """Each documented kind: its code, its body, and the fields of its table, in order."""
    found = {}
    matches = list(HEADING.finditer(DOC))
    for here, after in zip(matches, [*matches[1:], None], strict=True):
        section = DOC[here.end() : after.start() if after else len(DOC)]
        table = next(b for b in section.split("\n\n") if b.startswith("|"))  # the first table
        fields = re.findall(r"^\| `(\w+)` \|", table, re.M)
        found[here[1]] = (int(here[2]), BODIES[here[3]], fields)
    return found


def test_every_kind_is_documented_with_its_code_body_and_fields() -> None:
    documented = documented_messages()
    in_code = {
        cls.NAME: (cls.KIND, cls.BODY, list(cls.model_fields)) for cls in m.REGISTRY.values()
    }
    assert documented == in_code


def test_every_error_code_is_documented() -> None:
    section = DOC.split("## Errors and closing")[1].split("\n## ")[0]
    assert set(re.findall(r"^\| `(\w+)` \|", section, re.M)) == {c.value for c in ErrorCode}


def test_frame_layout_matches() -> None:
    assert f"the bytes `{MAGIC.decode()}`" in DOC
    assert f"a fixed {HEADER_SIZE}-byte header" in DOC
    assert f"at most {MAX_JSON:,}" in DOC
    assert f"Protocol version: **{PROTOCOL_VERSIONS[-1]}**" in DOC


def test_nested_structures_are_documented() -> None:
    for model in (m.CameraStatus, m.NodeStatus, m.Box):
        for field in model.model_fields:
            assert f"`{field}`" in DOC, f"{model.__name__}.{field} is not in protocol.md"

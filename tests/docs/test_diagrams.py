"""The documents' diagrams: every source in docs/diagrams has its SVG in docs/img, rendered from
the source as it is now, and the sequence-diagram renderer reads and draws its format.

None of this needs Graphviz: a `.dot` file's SVG is checked by the source hash it records."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIAGRAMS = ROOT / "docs" / "diagrams"
IMG = ROOT / "docs" / "img"
SVG_NS = "{http://www.w3.org/2000/svg}"


def _load_renderer() -> ModuleType:
    """docs/ is not a package: load render.py from its path."""
    spec = importlib.util.spec_from_file_location("vigia_docs_render", DIAGRAMS / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


render = _load_renderer()
SOURCES = sorted(p for p in DIAGRAMS.iterdir() if p.suffix in (".dot", ".seq"))

SMALL = """\
# a comment, then a blank line

title: Ordering a coffee
participant G: guest
participant B: barista\\nat the bar
G -> B: one flat white, please
note over B: grinds, tamps, pulls
B --> G: here you are
== later ==
note over G, B: they chat
G -> G: sips
"""


def texts(svg: str) -> list[str]:
    """Every <text> element's content, in document order."""
    root = ET.fromstring(svg.encode())
    return [el.text or "" for el in root.iter(f"{SVG_NS}text")]


# --- the committed SVGs ------------------------------------------------------------------------


def test_the_diagrams_the_documents_show_have_sources() -> None:
    names = {p.name for p in SOURCES}
    assert {"architecture.dot", "handshake.seq", "distributed-job.seq"} <= names
    for doc in ("architecture.md", "protocol.md"):
        text = (ROOT / "docs" / doc).read_text()
        assert "```mermaid" not in text, f"{doc} still draws with mermaid"
        for after in text.split("](img/")[1:]:
            svg = after.split(")")[0]
            if not svg.endswith(".svg"):
                continue  # a screenshot
            assert (IMG / svg).exists(), f"{doc} shows img/{svg}, which is not there"
            assert (DIAGRAMS / svg).with_suffix(".dot").exists() or (DIAGRAMS / svg).with_suffix(
                ".seq"
            ).exists(), f"img/{svg} has no source in docs/diagrams"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_source_has_its_svg_rendered_from_it_as_it_is_now(source: Path) -> None:
    svg = IMG / f"{source.stem}.svg"
    assert svg.exists(), f"{svg.name} is missing: run .venv/bin/python docs/diagrams/render.py"
    second_line = svg.read_text(encoding="utf-8").splitlines()[1]
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert second_line == f"<!-- source: {source.name} sha256: {digest} -->", (
        f"{svg.name} is stale: run .venv/bin/python docs/diagrams/render.py"
    )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_svg_is_well_formed_xml(source: Path) -> None:
    root = ET.parse(IMG / f"{source.stem}.svg").getroot()
    assert root.tag == f"{SVG_NS}svg"
    assert len(list(root.iter(f"{SVG_NS}text"))) > 3  # it draws something


@pytest.mark.parametrize("source", [p for p in SOURCES if p.suffix == ".seq"], ids=lambda p: p.name)
def test_a_sequence_diagram_svg_is_exactly_what_the_renderer_draws_now(source: Path) -> None:
    # A change to the renderer that changes its drawing also makes the committed SVG stale.
    assert (IMG / f"{source.stem}.svg").read_text(encoding="utf-8") == render.render_source(source)


def test_no_rendered_svg_outlives_its_source() -> None:
    stamped = [(svg, render.read_stamp(svg)) for svg in sorted(IMG.glob("*.svg"))]
    assert len([s for _, s in stamped if s is not None]) == len(SOURCES)
    for svg, stamp in stamped:
        if stamp is not None:
            assert (DIAGRAMS / stamp.name).exists(), f"{svg.name}: source {stamp.name} is gone"
            assert svg.stem == Path(stamp.name).stem


# --- the .seq format ---------------------------------------------------------------------------


def test_a_small_diagram_reads_as_written() -> None:
    diagram = render.parse_seq(SMALL)
    assert diagram.title == "Ordering a coffee"
    assert [(p.alias, p.label) for p in diagram.participants] == [
        ("G", "guest"),
        ("B", "barista\\nat the bar"),
    ]
    assert diagram.steps == [
        render.Message("G", "B", "one flat white, please", reply=False),
        render.Note("over", "B", "B", "grinds, tamps, pulls"),
        render.Message("B", "G", "here you are", reply=True),
        render.Section("later"),
        render.Note("over", "G", "B", "they chat"),
        render.Message("G", "G", "sips", reply=False),
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("G => B: hello", "cannot read 'G => B: hello'"),
        ("G -> B hello", "cannot read"),
        ("G -> X: hello", "unknown participant 'X'"),
        ("note over X: hmm", "unknown participant 'X'"),
        ("note left of G, B: hmm", "'note left of' takes one participant"),
        ("participant C: cook", "participant C declared after the first step"),
        ("title: again", "a second title"),
    ],
)
def test_a_malformed_line_is_refused_naming_its_number(line: str, problem: str) -> None:
    source = "title: t\nparticipant G\nparticipant B\nG -> B: hi\n\n" + line + "\n"
    with pytest.raises(render.SeqSyntaxError) as caught:
        render.parse_seq(source)
    assert caught.value.line == 6
    assert str(caught.value).startswith("line 6: ")
    assert problem in str(caught.value)


def test_a_participant_is_declared_once() -> None:
    with pytest.raises(render.SeqSyntaxError, match=r"^line 2: participant G declared twice"):
        render.parse_seq("participant G\nparticipant G: again\n")


def test_a_diagram_without_participants_is_refused() -> None:
    with pytest.raises(render.SeqSyntaxError, match="no participants"):
        render.parse_seq("# nothing here\n")


# --- drawing -----------------------------------------------------------------------------------


def test_the_svg_names_every_participant_message_note_and_section() -> None:
    svg = render.render_seq(render.parse_seq(SMALL))
    shown = texts(svg)
    # Participants twice (boxes top and bottom); "\n" breaks a label into lines.
    assert shown.count("guest") == 2
    assert shown.count("barista") == 2 and shown.count("at the bar") == 2
    for text in ("one flat white, please", "here you are", "sips", "grinds, tamps, pulls"):
        assert text in shown
    assert "later" in shown and "they chat" in shown
    assert "<title>Ordering a coffee</title>" in svg


def test_a_reply_is_dashed_and_a_message_is_not() -> None:
    root = ET.fromstring(render.render_seq(render.parse_seq(SMALL)).encode())
    arrows = [el for el in root.iter() if el.get("marker-end") == "url(#seq-arrow)"]
    assert len(arrows) == 3  # two messages and a reply (the self-message is a path)
    assert [el.get("stroke-dasharray") for el in arrows] == [None, "6 4", None]


def test_columns_make_room_for_a_long_label() -> None:
    short = render.layout_columns(render.parse_seq("participant A\nparticipant B\nA -> B: x\n"))
    label = "a message with a long label " * 3
    long = render.layout_columns(
        render.parse_seq(f"participant A\nparticipant B\nA -> B: {label}\n")
    )
    assert long.x[1] - long.x[0] > short.x[1] - short.x[0]
    assert long.x[1] - long.x[0] >= render.text_width(label)


def test_rendering_is_deterministic() -> None:
    first = render.render_seq(render.parse_seq(SMALL))
    assert render.render_seq(render.parse_seq(SMALL)) == first


def test_the_command_renders_stamps_and_checks(tmp_path: Path) -> None:
    source = tmp_path / "coffee.seq"
    source.write_text(SMALL)
    out = tmp_path / "img"
    assert render.main(["--check", "--out", str(out), str(source)]) == 1  # not rendered yet
    assert render.main(["--out", str(out), str(source)]) == 0
    lines = (out / "coffee.svg").read_text().splitlines()
    assert lines[0].startswith("<?xml")
    digest = hashlib.sha256(SMALL.encode()).hexdigest()
    assert lines[1] == f"<!-- source: coffee.seq sha256: {digest} -->"
    assert render.main(["--check", "--out", str(out), str(source)]) == 0
    source.write_text(SMALL + "G -> B: another\n")
    assert render.main(["--check", "--out", str(out), str(source)]) == 1  # stale now


def test_the_command_names_the_file_and_line_of_a_bad_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bad.seq"
    source.write_text("participant A\nA -> A hi\n")
    assert render.main(["--out", str(tmp_path), str(source)]) == 1
    assert f"{source}: line 2: cannot read" in capsys.readouterr().err
    assert not (tmp_path / "bad.svg").exists()

"""Renders the diagrams of Vigía's documents to SVG: every `*.dot` (Graphviz) and `*.seq`
(sequence diagram) in this folder becomes `docs/img/NAME.svg`.

    .venv/bin/python docs/diagrams/render.py            # render every source
    .venv/bin/python docs/diagrams/render.py a.seq      # render these sources only
    .venv/bin/python docs/diagrams/render.py --check    # exit 1 if an SVG is missing or stale

`*.dot` files go through Graphviz (`dot -Tsvg`; Debian package `graphviz`). `*.seq` files are
drawn here, in plain Python, because Graphviz cannot lay out sequence diagrams and mermaid-cli
needs a browser. Each SVG written carries, as an XML comment on its second line, the SHA-256
of the source it came from:

    <!-- source: architecture.dot sha256: 3f1a... -->

so that a test (and `--check`) can tell a stale SVG from a fresh one without Graphviz.

The `.seq` format: one statement a line; blank lines and lines starting with `#` are ignored;
participants first, in the order of their columns, then the steps from top to bottom.

    title: Handshake                       the SVG's <title> (optional, at most once)
    participant C: client (edge, watcher)  a column: an alias, then the label shown (optional)
    C -> S: hello(versions, peer)          a message: solid line, arrow at S
    S --> C: welcome(proof)                a reply: dashed line
    C -> C: check the proof                a message to oneself: a small loop
    note over C: text                      a note on one lifeline,
    note over C, S: text                   or spanning from C's to S's,
    note left of C: text                   or beside one (`right of` likewise)
    == reconnecting ==                     a section: a divider across the diagram

In any text, `\\n` breaks the line. A line that is none of these is an error naming its number.
A `.seq` source gives the same bytes every time; a `.dot` source, with the same Graphviz.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE.parent / "img"
SOURCE_SUFFIXES = (".dot", ".seq")
STAMP = re.compile(r"^<!-- source: (?P<name>\S+) sha256: (?P<sha256>[0-9a-f]{64}) -->$")

# --- the .seq format ----------------------------------------------------------------------------

ALIAS = r"[A-Za-z][\w-]*"
TITLE_RE = re.compile(r"title:\s*(?P<text>.+)")
PARTICIPANT_RE = re.compile(rf"participant\s+(?P<alias>{ALIAS})\s*(?::\s*(?P<label>.+))?")
MESSAGE_RE = re.compile(
    rf"(?P<src>{ALIAS})\s*(?P<arrow>-->|->)\s*(?P<dst>{ALIAS})\s*:\s*(?P<text>.+)"
)
NOTE_RE = re.compile(
    rf"note\s+(?P<where>over|left of|right of)\s+(?P<first>{ALIAS})"
    rf"(?:\s*,\s*(?P<last>{ALIAS}))?\s*:\s*(?P<text>.+)"
)
SECTION_RE = re.compile(r"==\s*(?P<text>.*?)\s*==")


class SeqSyntaxError(ValueError):
    """A `.seq` line that cannot be read; the message starts with its line number."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line


@dataclass(frozen=True)
class Participant:
    """A column: the alias steps use, and the label its boxes show."""

    alias: str
    label: str


@dataclass(frozen=True)
class Message:
    """An arrow from `src` to `dst`; a reply is drawn dashed."""

    src: str
    dst: str
    text: str
    reply: bool


@dataclass(frozen=True)
class Note:
    """A note `over` one or two lifelines, or `left of` / `right of` one."""

    where: str
    first: str
    last: str
    text: str


@dataclass(frozen=True)
class Section:
    """A divider across the diagram, with its label."""

    text: str


Step = Message | Note | Section


@dataclass
class SeqDiagram:
    """A parsed `.seq` source."""

    title: str = ""
    participants: list[Participant] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def column(self, alias: str) -> int:
        """The column of a participant, counting from 0."""
        return next(i for i, p in enumerate(self.participants) if p.alias == alias)


def _lines(text: str) -> list[str]:
    """A text's lines: `\\n` in a source breaks the line."""
    return [part.strip() for part in text.split("\\n")]


def parse_seq(source: str) -> SeqDiagram:
    """Read a `.seq` source; SeqSyntaxError names the first line that is wrong."""
    diagram = SeqDiagram()
    for number, raw in enumerate(source.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            _parse_line(diagram, number, line)
    if not diagram.participants:
        raise SeqSyntaxError(len(source.splitlines()) or 1, "no participants declared")
    return diagram


def _parse_line(diagram: SeqDiagram, number: int, line: str) -> None:
    """One statement into `diagram`."""
    if found := TITLE_RE.fullmatch(line):
        if diagram.title:
            raise SeqSyntaxError(number, "a second title")
        diagram.title = found["text"].strip()
    elif found := PARTICIPANT_RE.fullmatch(line):
        _add_participant(diagram, number, found["alias"], found["label"])
    elif found := MESSAGE_RE.fullmatch(line):
        _known(diagram, number, found["src"], found["dst"])
        reply = found["arrow"] == "-->"
        diagram.steps.append(Message(found["src"], found["dst"], found["text"].strip(), reply))
    elif found := NOTE_RE.fullmatch(line):
        last = found["last"] or found["first"]
        if found["last"] and found["where"] != "over":
            raise SeqSyntaxError(number, f"'note {found['where']}' takes one participant")
        _known(diagram, number, found["first"], last)
        diagram.steps.append(Note(found["where"], found["first"], last, found["text"].strip()))
    elif found := SECTION_RE.fullmatch(line):
        diagram.steps.append(Section(found["text"]))
    else:
        raise SeqSyntaxError(
            number,
            f"cannot read {line!r}: expected 'participant A: label', 'A -> B: text', "
            "'A --> B: text', 'note over A: text', '== text ==' or 'title: text'",
        )


def _add_participant(diagram: SeqDiagram, number: int, alias: str, label: str | None) -> None:
    if diagram.steps:
        raise SeqSyntaxError(number, f"participant {alias} declared after the first step")
    if any(p.alias == alias for p in diagram.participants):
        raise SeqSyntaxError(number, f"participant {alias} declared twice")
    diagram.participants.append(Participant(alias, (label or alias).strip()))


def _known(diagram: SeqDiagram, number: int, *aliases: str) -> None:
    declared = {p.alias for p in diagram.participants}
    for alias in aliases:
        if alias not in declared:
            raise SeqSyntaxError(number, f"unknown participant {alias!r} (declare it first)")


# --- drawing a sequence diagram -----------------------------------------------------------------

FONT = "Helvetica, Arial, sans-serif"
FONT_SIZE = 13
LINE_H = 17  # one line of text
MARGIN = 16  # around the whole picture
PAD_X, PAD_Y = 10, 6  # inside boxes and notes
MIN_GAP = 36  # between two participants' boxes
LABEL_ROOM = 24  # a message label's clearance from the lifelines it spans
ROW_GAP = 12  # between two steps
SELF_LOOP_W, SELF_LOOP_H = 28, 18
BESIDE = 10  # a `left of` / `right of` note's distance from its lifeline
INK, LIFELINE, ACTOR_FILL, ACTOR_STROKE = "#1f2328", "#8c959f", "#eaf1fb", "#4a6fa5"
NOTE_FILL, NOTE_STROKE, SECTION_FILL = "#fff8c5", "#c9a227", "#f0f2f4"

# Widths of Helvetica's glyphs in ems, coarsely: SVG has no text metrics, so boxes are sized
# from this estimate (erring wide), and every viewer's fallback font still fits.
NARROW, WIDE = set("iljtfrI.,:;'!|()[]{} "), set("mwMW@%")


def text_width(text: str) -> float:
    """An estimate of one line's width in pixels, at FONT_SIZE."""
    ems = 0.0
    for char in text:
        if char in NARROW:
            ems += 0.32
        elif char in WIDE:
            ems += 0.88
        elif char.isupper():
            ems += 0.68
        else:
            ems += 0.56
    return ems * FONT_SIZE


def block_width(text: str) -> float:
    """The width of a multi-line text: its widest line."""
    return max(text_width(line) for line in _lines(text))


def _num(value: float) -> str:
    """A coordinate as written: one decimal at most, so output is stable across platforms."""
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"


@dataclass
class Columns:
    """Where each participant's lifeline is, and how wide its box."""

    x: list[float]
    box_w: list[float]


def layout_columns(diagram: SeqDiagram) -> Columns:
    """Lifelines far enough apart for every box and every message label between them."""
    box_w = [max(block_width(p.label) + 2 * PAD_X, 80.0) for p in diagram.participants]
    gaps = [(a + b) / 2 + MIN_GAP for a, b in itertools.pairwise(box_w)]
    needs: list[tuple[int, int, float]] = []  # first column, last column, room needed
    for step in diagram.steps:
        if isinstance(step, Message):
            a, b = sorted((diagram.column(step.src), diagram.column(step.dst)))
            if a == b:  # the label sits right of the loop, before the next lifeline
                b = a + 1
                need = SELF_LOOP_W + block_width(step.text) + LABEL_ROOM
            else:
                need = block_width(step.text) + 2 * LABEL_ROOM
            needs.append((a, b, need))
    # Narrow spans first, so that wide ones only add what is still missing, spread evenly.
    for a, b, need in sorted(needs, key=lambda n: (n[1] - n[0], n[0])):
        last = min(b, len(gaps))  # a loop on the last lifeline widens the picture instead
        if a < last and (short := need - sum(gaps[a:last])) > 0:
            for i in range(a, last):
                gaps[i] += short / (last - a)
    x = [0.0]
    for gap in gaps:
        x.append(x[-1] + gap)
    return Columns(x, box_w)


def note_span(step: Note, diagram: SeqDiagram, cols: Columns) -> tuple[float, float]:
    """A note's left and right edges."""
    width = block_width(step.text) + 2 * PAD_X
    a, b = sorted((diagram.column(step.first), diagram.column(step.last)))
    if step.where == "right of":
        return cols.x[a] + BESIDE, cols.x[a] + BESIDE + width
    if step.where == "left of":
        return cols.x[a] - BESIDE - width, cols.x[a] - BESIDE
    left, right = cols.x[a] - PAD_X * 2, cols.x[b] + PAD_X * 2
    if right - left < width:
        middle = (left + right) / 2
        left, right = middle - width / 2, middle + width / 2
    return left, right


def _extent(diagram: SeqDiagram, cols: Columns) -> tuple[float, float]:
    """The leftmost and rightmost x that anything reaches."""
    lows = [x - w / 2 for x, w in zip(cols.x, cols.box_w, strict=True)]
    highs = [x + w / 2 for x, w in zip(cols.x, cols.box_w, strict=True)]
    for step in diagram.steps:
        if isinstance(step, Note):
            left, right = note_span(step, diagram, cols)
            lows.append(left)
            highs.append(right)
        elif isinstance(step, Message) and step.src == step.dst:
            x = cols.x[diagram.column(step.src)]
            highs.append(x + SELF_LOOP_W + 6 + block_width(step.text))
    return min(lows), max(highs)


@dataclass
class Canvas:
    """The SVG elements drawn so far, and the widths the layout fixed."""

    cols: Columns
    left: float
    right: float
    parts: list[str] = field(default_factory=list)

    def text(self, x: float, top: float, text: str, anchor: str = "middle") -> None:
        """Lines of text whose first line's box starts at `top`."""
        for i, line in enumerate(_lines(text)):
            baseline = top + i * LINE_H + FONT_SIZE
            self.parts.append(
                f'<text x="{_num(x)}" y="{_num(baseline)}" text-anchor="{anchor}">'
                f"{escape(line)}</text>"
            )

    def rect(self, x: float, y: float, w: float, h: float, *, fill: str, stroke: str) -> None:
        """A box with slightly rounded corners."""
        self.parts.append(
            f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}" rx="3" '
            f'fill="{fill}" stroke="{stroke}"/>'
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, extra: str = "") -> None:
        """A straight line; `extra` holds further attributes."""
        self.parts.append(
            f'<line x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}"{extra}/>'
        )


def _text_height(text: str) -> float:
    return len(_lines(text)) * LINE_H


def _draw_boxes(canvas: Canvas, diagram: SeqDiagram, top: float, height: float) -> None:
    """A row of participant boxes."""
    for p, x, w in zip(diagram.participants, canvas.cols.x, canvas.cols.box_w, strict=True):
        canvas.rect(x - w / 2, top, w, height, fill=ACTOR_FILL, stroke=ACTOR_STROKE)
        inner = (height - _text_height(p.label)) / 2
        canvas.text(x, top + inner, p.label)


def _draw_message(canvas: Canvas, diagram: SeqDiagram, step: Message, top: float) -> float:
    """An arrow with its label above; returns the height used."""
    x1 = canvas.cols.x[diagram.column(step.src)]
    x2 = canvas.cols.x[diagram.column(step.dst)]
    label_h = _text_height(step.text)
    dash = ' stroke-dasharray="6 4"' if step.reply else ""
    style = f' stroke="{INK}" fill="none"{dash} marker-end="url(#seq-arrow)"'
    if x1 == x2:
        canvas.text(x1 + SELF_LOOP_W + 6, top, step.text, anchor="start")
        y = top + max(label_h - SELF_LOOP_H, 0) / 2
        w, h = _num(SELF_LOOP_W), _num(SELF_LOOP_H)
        path = f"M{_num(x1)},{_num(y)} h{w} v{h} h-{w}"
        canvas.parts.append(f'<path d="{path}"{style}/>')
        return max(label_h, SELF_LOOP_H) + ROW_GAP
    canvas.text((x1 + x2) / 2, top, step.text)
    y = top + label_h + 3
    canvas.line(x1, y, x2 - math.copysign(1, x2 - x1), y, style)
    return label_h + 3 + ROW_GAP


def _draw_step(canvas: Canvas, diagram: SeqDiagram, step: Step, top: float) -> float:
    """One step at `top`; returns the height it used."""
    if isinstance(step, Message):
        return _draw_message(canvas, diagram, step, top)
    height = _text_height(step.text) + 2 * PAD_Y
    if isinstance(step, Note):
        left, right = note_span(step, diagram, canvas.cols)
        canvas.rect(left, top, right - left, height, fill=NOTE_FILL, stroke=NOTE_STROKE)
        canvas.text((left + right) / 2, top + PAD_Y, step.text)
    else:
        width = canvas.right - canvas.left
        canvas.rect(canvas.left, top, width, height, fill=SECTION_FILL, stroke=LIFELINE)
        canvas.text((canvas.left + canvas.right) / 2, top + PAD_Y, step.text)
    return height + ROW_GAP


def render_seq(diagram: SeqDiagram) -> str:
    """The SVG of a sequence diagram: boxes top and bottom, lifelines, steps between."""
    cols = layout_columns(diagram)
    low, high = _extent(diagram, cols)
    cols.x = [x - low + MARGIN for x in cols.x]  # the leftmost ink at MARGIN
    steps = Canvas(cols, MARGIN, high - low + MARGIN)
    box_h = max(_text_height(p.label) for p in diagram.participants) + 2 * PAD_Y
    y = MARGIN + box_h + ROW_GAP
    for step in diagram.steps:
        y += _draw_step(steps, diagram, step, y)
    # Lifelines go under everything, so they are drawn first, once their length is known.
    under = Canvas(cols, steps.left, steps.right)
    for x in cols.x:
        under.line(x, MARGIN + box_h, x, y, f' stroke="{LIFELINE}" stroke-dasharray="4 4"')
    _draw_boxes(steps, diagram, MARGIN, box_h)
    _draw_boxes(steps, diagram, y, box_h)
    width, height = high - low + 2 * MARGIN, y + box_h + MARGIN
    return _svg_document(diagram.title, width, height, under.parts + steps.parts)


def _svg_document(title: str, width: float, height: float, parts: list[str]) -> str:
    w, h = _num(math.ceil(width)), _num(math.ceil(height))
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family={quoteattr(FONT)} font-size="{FONT_SIZE}" '
        f'fill="{INK}">',
        f"<title>{escape(title)}</title>" if title else "",
        "<defs>",
        '<marker id="seq-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" '
        f'markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{INK}"/></marker>',
        "</defs>",
        f'<rect width="{w}" height="{h}" fill="#ffffff"/>',  # dark page themes keep it legible
    ]
    return "\n".join([line for line in head if line] + parts + ["</svg>", ""])


# --- sources, stamps, Graphviz -----------------------------------------------------------------


def source_sha256(source: Path) -> str:
    """The SHA-256 of a source file's bytes, as its SVG records it."""
    return hashlib.sha256(source.read_bytes()).hexdigest()


def stamp(svg: str, source: Path) -> str:
    """`svg` with the source's name and hash as an XML comment on its second line."""
    comment = f"<!-- source: {source.name} sha256: {source_sha256(source)} -->"
    first, _, rest = svg.partition("\n")
    if not first.startswith("<?xml"):
        first, rest = '<?xml version="1.0" encoding="UTF-8"?>', svg
    return f"{first}\n{comment}\n{rest}"


@dataclass(frozen=True)
class Stamp:
    """What an SVG's second line says about its source."""

    name: str
    sha256: str


def read_stamp(svg: Path) -> Stamp | None:
    """The source an SVG records, or None when its second line is not a stamp."""
    lines = svg.read_text(encoding="utf-8").splitlines()
    found = STAMP.match(lines[1]) if len(lines) > 1 else None
    return Stamp(found["name"], found["sha256"]) if found else None


def render_dot(source: Path) -> str:
    """Graphviz's SVG of a `.dot` file (unstamped)."""
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError("Graphviz's `dot` is not installed (Debian: apt-get install graphviz)")
    done = subprocess.run([dot, "-Tsvg", str(source)], check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dot failed: {done.stderr.strip()}")
    return done.stdout


def render_source(source: Path) -> str:
    """The stamped SVG of one source; SeqSyntaxError or RuntimeError when it cannot be made."""
    if source.suffix == ".seq":
        svg = render_seq(parse_seq(source.read_text(encoding="utf-8")))
    elif source.suffix == ".dot":
        svg = render_dot(source)
    else:
        raise RuntimeError(f"not a diagram source ({', '.join(SOURCE_SUFFIXES)})")
    return stamp(svg, source)


def sources(folder: Path = HERE) -> list[Path]:
    """Every diagram source in `folder`, by name."""
    return sorted(p for p in folder.iterdir() if p.suffix in SOURCE_SUFFIXES)


def svg_path(source: Path, out_dir: Path = OUT_DIR) -> Path:
    """Where a source's SVG goes."""
    return out_dir / f"{source.stem}.svg"


def stale(paths: Sequence[Path], out_dir: Path = OUT_DIR) -> Iterator[str]:
    """A line for each source whose SVG is missing or records another hash."""
    for source in paths:
        svg = svg_path(source, out_dir)
        if not svg.exists():
            yield f"{source.name}: {svg.name} is missing"
        elif read_stamp(svg) != Stamp(source.name, source_sha256(source)):
            yield f"{source.name}: {svg.name} is stale"


def _locate(path: Path) -> Path:
    """A source as given, or by its name in this folder (`render.py handshake.seq`)."""
    return path if path.exists() or path.is_absolute() else HERE / path


def main(argv: Sequence[str] | None = None) -> int:
    """Render the sources named (default: all), or with --check only report stale SVGs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("sources", nargs="*", type=Path, help="sources (default: every one)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"default: {OUT_DIR}")
    args = parser.parse_args(argv)
    paths = [_locate(path) for path in args.sources] or sources()
    if args.check:
        problems = list(stale(paths, args.out))
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for source in paths:
        try:
            svg = render_source(source)
        except (SeqSyntaxError, RuntimeError, OSError) as exc:
            print(f"{source}: {exc}", file=sys.stderr)
            return 1
        target = svg_path(source, args.out)
        target.write_text(svg, encoding="utf-8")
        print(f"{source.name} -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

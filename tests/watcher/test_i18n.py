"""English and Spanish: the .po files compile in memory, every string the code marks has its
Spanish translation, the language comes from --lang or else the system locale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from watcher import i18n

SOURCES = Path(i18n.__file__).parent
MARKED = re.compile(r"""\btr\(\s*(["'])(.+?)\1\s*\)""")


def marked_strings() -> set[str]:
    """Every literal the watcher's code passes to tr()."""
    found: set[str] = set()
    for path in SOURCES.rglob("*.py"):
        found |= {m.group(2) for m in MARKED.finditer(path.read_text(encoding="utf-8"))}
    return found


def test_every_marked_string_has_a_spanish_translation() -> None:
    spanish = i18n.load("es").messages
    marked = marked_strings()
    assert len(marked) > 30
    assert sorted(marked - set(spanish)) == []
    assert sorted(set(spanish) - marked) == []  # and no stale entries


def test_both_languages() -> None:
    spanish, english = i18n.load("es"), i18n.load("en")
    assert spanish.gettext("Camera") == "Cámara" and english.gettext("Camera") == "Camera"
    assert spanish.gettext("{n} rows").format(n=3) == "3 filas"
    i18n.use(spanish)
    try:
        assert i18n.tr("online") == "activo"
    finally:
        i18n.use(english)
    assert i18n.tr("online") == "online"


@pytest.mark.parametrize(
    ("env", "lang"),
    [("es_ES.UTF-8", "es"), ("es_AR", "es"), ("en_GB.UTF-8", "en"), ("fr_FR.UTF-8", "en")],
)
def test_the_system_locale_chooses(monkeypatch: pytest.MonkeyPatch, env: str, lang: str) -> None:
    for var in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", env)
    assert i18n.system_language() == lang
    assert i18n.load(None).lang == lang


def test_po_parsing_and_errors() -> None:
    text = (
        'msgid ""\nmsgstr "Language: es\\n"\n\n'
        'msgid "a"\nmsgstr "b"\n\n'
        '#, fuzzy\nmsgid "c"\nmsgstr "d"\n\n'
        'msgid ""\n"long "\n"one"\nmsgstr "larga"\n"s"\n'
    )
    assert i18n.parse_po(text) == {"a": "b", "long one": "largas"}
    with pytest.raises(i18n.PoError, match=r"x.po:2: not a quoted string: 'b'"):
        i18n.parse_po('msgid "a"\nmsgstr b\n', "x.po")
    with pytest.raises(i18n.PoError, match=r"x.po:3: cannot read 'msgtxt \"a\"'"):
        i18n.parse_po('msgid "a"\nmsgstr "b"\nmsgtxt "a"\n', "x.po")
    with pytest.raises(i18n.PoError, match="no translation for language 'fr'"):
        i18n.load("fr")

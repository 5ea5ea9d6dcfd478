"""English and Spanish through gettext. The catalogs are `watcher/locale/<lang>.po`, compiled
into a catalog in memory when the watcher starts (no `.mo` files to build or commit).

The language is `--lang` if given, else the system locale's (LC_ALL, LC_MESSAGES, LANG),
else English. Code marks each text for translation by calling `tr` on it; English is the
source language.
"""

from __future__ import annotations

import ast
import gettext
import locale
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from watcher.config import DEFAULT_LANG, LANGUAGES

log = logging.getLogger("vigia.watcher.i18n")
LOCALE_DIR = Path(__file__).parent / "locale"


class PoError(ValueError):
    """A .po file the watcher cannot read (names the file and the line)."""


@dataclass
class _Entry:
    msgid: list[str] = field(default_factory=list)
    msgstr: list[str] = field(default_factory=list)
    fuzzy: bool = False
    target: list[str] | None = None


def parse_po(text: str, source: str = "<po>") -> dict[str, str]:
    """The translations of a .po file: msgid -> msgstr (fuzzy and empty ones left out)."""
    catalog: dict[str, str] = {}
    entry = _Entry()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or (line.startswith("#") and "fuzzy" not in line):
            if not line and entry.msgstr:
                _keep(entry, catalog)
                entry = _Entry()
            continue
        if line.startswith("#"):
            entry.fuzzy = True
        elif line.startswith("msgid "):
            if entry.msgstr:
                _keep(entry, catalog)
                entry = _Entry()
            entry.target = entry.msgid
            entry.target.append(_string(line[6:], source, number))
        elif line.startswith("msgstr "):
            entry.target = entry.msgstr
            entry.target.append(_string(line[7:], source, number))
        elif line.startswith('"') and entry.target is not None:
            entry.target.append(_string(line, source, number))
        else:
            raise PoError(f"{source}:{number}: cannot read {raw!r}")
    _keep(entry, catalog)
    return catalog


def _string(token: str, source: str, number: int) -> str:
    try:
        value = ast.literal_eval(token.strip())
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, str):
        raise PoError(f"{source}:{number}: not a quoted string: {token!r}")
    return value


def _keep(entry: _Entry, catalog: dict[str, str]) -> None:
    msgid, msgstr = "".join(entry.msgid), "".join(entry.msgstr)
    if msgid and msgstr and not entry.fuzzy:
        catalog[msgid] = msgstr


class Catalog(gettext.NullTranslations):
    """A gettext translation built from a parsed .po file."""

    def __init__(self, lang: str, messages: dict[str, str]) -> None:
        super().__init__()
        self.lang = lang
        self.messages = messages

    def gettext(self, message: str) -> str:
        """The translation of `message`, or `message` itself."""
        return self.messages.get(message, message)


def system_language() -> str:
    """The language of the system locale if the watcher speaks it, else English."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(var, "")
        if value:
            return _supported(value)
    found = locale.getlocale(locale.LC_MESSAGES)[0] if hasattr(locale, "LC_MESSAGES") else None
    return _supported(found or DEFAULT_LANG)


def _supported(value: str) -> str:
    lang = value.split(":", maxsplit=1)[0][:2].lower()
    return lang if lang in LANGUAGES else DEFAULT_LANG


def load(lang: str | None = None) -> Catalog:
    """The catalog for `lang` (None: the system's); English needs no file."""
    chosen = lang or system_language()
    if chosen not in LANGUAGES:
        raise PoError(f"no translation for language {chosen!r} (have: {', '.join(LANGUAGES)})")
    path = LOCALE_DIR / f"{chosen}.po"
    messages = parse_po(path.read_text(encoding="utf-8"), str(path)) if path.exists() else {}
    return Catalog(chosen, messages)


_current: Catalog = Catalog(DEFAULT_LANG, {})


def use(catalog: Catalog) -> None:
    """Make `catalog` the one `tr` translates with."""
    global _current  # noqa: PLW0603 - one language per process, chosen at start
    _current = catalog
    log.debug("language %s (%d messages)", catalog.lang, len(catalog.messages))


def tr(message: str) -> str:
    """`message` in the current language."""
    return _current.gettext(message)


def current() -> Catalog:
    """The catalog in use."""
    return _current

"""Loading TOML files into typed, validated settings, with errors that name the problem.

Every part's config file (`hub.toml`, `edge.toml`, ...) and every credential file goes through
`load_toml`: unknown keys and bad values are refused at start, naming the file, the key, the
value and what is allowed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError


class Settings(BaseModel):
    """Base for config models: closed (unknown keys are errors) and immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ConfigError(ValueError):
    """A config or credential file is missing, unreadable, or has a bad key or value."""


S = TypeVar("S", bound=BaseModel)


def read_toml(path: Path) -> dict[str, Any]:
    """The tables of a TOML file; ConfigError when missing, unreadable or not TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_toml(path: Path, model: type[S], overrides: dict[str, Any] | None = None) -> S:
    """Parse `path` as TOML into `model`; `overrides` (from command-line flags) win."""
    data = read_toml(path)
    data.update(overrides or {})
    return validate(model, data, str(path))


def _section(model: type[BaseModel], path: tuple[int | str, ...]) -> type[BaseModel]:
    """The settings class of a nested table, e.g. ('retention',) -> Retention."""
    for part in path:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return model


def validate(model: type[S], data: dict[str, Any], source: str) -> S:
    """Build `model` from `data`, turning the first validation error into a ConfigError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(sorted(_section(model, err["loc"][:-1]).model_fields))
            raise ConfigError(f"{source}: unknown key '{key}' (allowed: {allowed})") from None
        if err["type"] == "missing":
            raise ConfigError(f"{source}: missing key '{key}'") from None
        raise ConfigError(
            f"{source}: bad value {err['input']!r:.80} for '{key}': {err['msg']}"
        ) from None

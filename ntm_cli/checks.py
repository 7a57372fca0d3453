"""Small range checks shared by the config schemas; each returns problems as lines that say how to fix them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable


def positive(cfg: object, prefix: str, keys: Iterable[str] | None = None) -> list[str]:
    """``prefix.KEY=V must be greater than 0`` for each numeric ``keys`` (every numeric field by default) <= 0."""
    if keys is None:
        keys = [f.name for f in dataclasses.fields(cfg)]
    out = []
    for key in keys:
        value = getattr(cfg, key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
            out.append(f"{prefix}.{key}={value} must be greater than 0")
    return out


def choice(key: str, value: str, choices: Iterable[str]) -> list[str]:
    """``KEY=V is not known; use one of: ...`` unless ``value`` is among ``choices``."""
    choices = list(choices)
    return [] if value in choices else [f"{key}={value} is not known; use one of: {', '.join(choices)}"]

"""An adaptive curriculum: train on the small end of a task's ranges, widen them as it is learned.

A task's sizes come in ``min_X``/``max_X`` pairs (copy: lengths; repeat copy:
lengths and repeats; associative recall: items). At curriculum level
``l`` in [0, 1] every range is drawn as ``min_X .. min_X + floor(l (max_X - min_X) + 1/2)``;
level 1 is the task as configured. The level starts at ``start`` and grows
by ``step`` each time the mean training bit errors per sequence over a
logging interval fall to ``threshold`` or below. Validation always uses the
full ranges, so a run is only "solved" on the task as configured.

With a ``full_share`` above 0, that share of the steps (drawn at random) train
on the full ranges while the level is under 1, so that the largest sizes are
never new (the "combined" curriculum of Zaremba & Sutskever 2014, per batch);
the level advances on the other steps' bit errors.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch


def ranges(task: Any) -> dict[str, tuple[int, int]]:
    """The task's ``{"X": (min_X, max_X)}`` pairs; empty for a task with no size ranges."""
    names = {f.name for f in dataclasses.fields(task)}
    return {
        n[4:]: (getattr(task, n), getattr(task, f"max_{n[4:]}"))
        for n in sorted(names)
        if n.startswith("min_") and f"max_{n[4:]}" in names
    }


def overrides(task: Any, level: float) -> dict[str, int]:
    """The ``max_X`` values that ``task.sample(..., **overrides)`` takes at ``level`` (0 to 1)."""
    if level >= 1.0:
        return {}
    return {f"max_{name}": lo + math.floor(level * (hi - lo) + 0.5) for name, (lo, hi) in ranges(task).items()}


def advance(level: float, step: float, bit_errors: float, threshold: float) -> float:
    """The next level: ``level + step`` (at most 1) when ``bit_errors <= threshold``, else ``level``."""
    # Rounded so that ten steps of 0.1 make exactly 1.0.
    return min(1.0, round(level + step, 9)) if bit_errors <= threshold else level


def full_batch(share: float, level: float, generator: torch.Generator) -> bool:
    """Whether this step trains on the full ranges: with probability ``share`` while ``level`` is under 1.

    Draws from ``generator`` only then, so that a run without a share keeps its random stream."""
    if share <= 0 or level >= 1.0:
        return False
    return bool(torch.rand((), generator=generator) < share)

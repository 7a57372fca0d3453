"""Checkpoints: what they hold, atomic saving, rotation, and safe loading.

A checkpoint is a plain dict of tensors and built-in values, loaded with
``torch.load(weights_only=True)`` so that loading a file never runs code::

    format: "ntm-checkpoint"; version: 1
    config: the resolved training config as plain data
    model, optimizer, scheduler: state dicts (scheduler None for a constant lr)
    step, sequences, wall_seconds, best, solved, curriculum_level,
    skipped_steps, bad_steps_in_a_row: the run's progress (ntm_cli.training.Progress)
    rng: {"data": ..., "torch": ..., "cuda": [...]}: every random state
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch

from ntm_cli.errors import CheckpointError

FORMAT = "ntm-checkpoint"
VERSION = 1
TEMPORARY_SUFFIX = ".tmp"


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Writes a file atomically: ``write`` fills a temporary file in the same folder, synced, then renamed.

    A reader (or a run killed at any moment) sees the old file whole or the new
    one whole, never a part of either.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """``Path.write_text``, atomically (see ``write_atomic``)."""
    write_atomic(path, lambda f: f.write(text.encode()))


def remove_temporaries(folder: Path) -> list[Path]:
    """Removes what a process killed while writing left behind (``.NAME.XXXX.tmp``); returns it."""
    left = sorted(folder.glob(f".*{TEMPORARY_SUFFIX}")) if folder.is_dir() else []
    for p in left:
        p.unlink(missing_ok=True)
    return left


def save(state: dict[str, Any], path: Path) -> None:
    """Writes a checkpoint of ``state`` atomically."""
    write_atomic(path, lambda f: torch.save({"format": FORMAT, "version": VERSION, **state}, f))


def load(path: str | Path) -> dict[str, Any]:
    """Loads a checkpoint written by ``save`` onto the CPU, refusing anything else."""
    p = Path(path)
    hint = "give a run directory or a .pt file written by ntm train (RUN_DIR/checkpoints/best.pt)"
    if not p.exists():
        raise CheckpointError(f"checkpoint {p} does not exist; {hint}")
    if p.is_dir():
        raise CheckpointError(f"checkpoint {p} is a folder; {hint}")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception:  # torch raises several types for unreadable or unsafe files
        raise CheckpointError(
            f"checkpoint {p} cannot be loaded safely: it is not a torch file, is cut short, or holds "
            f"objects other than tensors and plain values (which ntm never loads); {hint}"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{p} is not an ntm checkpoint; {hint}")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{p} has checkpoint version {data.get('version')}, this ntm reads {VERSION}")
    missing = [key for key in ("config", "model") if key not in data]
    if missing:
        raise CheckpointError(f"{p} is an incomplete ntm checkpoint (no {', '.join(missing)}); {hint}")
    return data


def resumable(data: dict[str, Any], path: Path) -> None:
    """Refuses a checkpoint without the training state a resume needs (an exported, weights-only one)."""
    missing = [key for key in ("optimizer", "step", "sequences", "rng") if key not in data]
    if missing:
        raise CheckpointError(
            f"{path} holds weights only (no {', '.join(missing)}), so training cannot continue from it; "
            "give a run directory or a checkpoint from its checkpoints/ folder"
        )


def in_run(path: str | Path, name: str) -> Path:
    """The checkpoint a path names: the path itself, or RUN/checkpoints/NAME for a run directory RUN."""
    p = Path(path)
    return p / "checkpoints" / name if p.is_dir() else p


def run_of(checkpoint: Path) -> Path:
    """The run directory of RUN/checkpoints/NAME.pt (a lone file's own folder otherwise)."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


class Checkpointer:
    """Writes a run's checkpoints into ``folder``, keeping the newest ``keep`` periodic ones (step_NNNNNNN.pt)."""

    def __init__(self, folder: Path, keep: int) -> None:
        self.folder, self.keep = folder, keep

    def save(self, state: dict[str, Any], names: list[str]) -> None:
        for name in names:
            save(state, self.folder / name)
        periodic = sorted(self.folder.glob("step_*.pt"))
        for old in periodic[: max(0, len(periodic) - self.keep)]:
            old.unlink()

    @staticmethod
    def periodic(step: int) -> str:
        return f"step_{step:07d}.pt"


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], source: object) -> None:
    try:
        model.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError) as ex:
        raise misfit(source, ex) from None


def misfit(source: object, ex: Exception) -> CheckpointError:
    """The error for a checkpoint whose weights do not fit the model its config describes."""
    first = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
    return CheckpointError(
        f"{source} does not fit the model its config describes ({first[:200]}); it comes from another model "
        "or ntm version: use it with the ntm that wrote it, or retrain"
    )


def rng_state() -> dict[str, Any]:
    """The global torch random states (CPU and every CUDA device)."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"torch": torch.get_rng_state(), "cuda": cuda}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restores the global torch random states saved by ``rng_state`` (CUDA where present)."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])

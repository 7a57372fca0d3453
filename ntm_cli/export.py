"""``ntm export CHECKPOINT OUT``: a trained model as a small file to share: its weights and config, no training state.

A checkpoint carries the optimizer's moments, every random state and the
progress a resume needs: three times the weights. An exported file keeps the
weights, the config they were trained with and what the training reached, so
``ntm eval checkpoint=OUT`` (figures included) works on it; a resume refuses it.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ntm_cli import checkpoint
from ntm_cli.errors import ConfigError

USAGE = "ntm export CHECKPOINT OUT [--force]"
# What an exported file keeps of the training, beside the weights and config: where it got to.
_KEPT = ("step", "sequences", "best", "validation", "solved")


def exported(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The weights, config and progress of a loaded checkpoint, without its optimizer, schedule or random states."""
    state = {"config": ckpt["config"], "model": {k: v.detach().clone() for k, v in ckpt["model"].items()}}
    return state | {key: ckpt[key] for key in _KEPT if key in ckpt}


def export(source: str | Path, out: str | Path, force: bool = False) -> Path:
    """Writes ``source``'s model (a checkpoint file, or a run directory's best.pt) to ``out``; returns ``out``.

    Raises NtmError for a source that is not an ntm checkpoint, and for an ``out`` that exists (unless ``force``).
    """
    out = Path(out)
    path = checkpoint.in_run(source, "best.pt")
    ckpt = checkpoint.load(path)
    if out.exists() and not force:
        raise ConfigError(f"{out} exists; give another OUT, or --force to replace it")
    if out.suffix != ".pt":
        raise ConfigError(f"{out} should end in .pt, as ntm's checkpoints do")
    checkpoint.save(exported(ckpt), out)
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message}; usage: {USAGE}")


def command(args: Sequence[str]) -> int:
    """``ntm export CHECKPOINT OUT [--force]``: prints what it wrote and its size."""
    parser = _Parser(prog="ntm export", description=__doc__.splitlines()[0].split(": ", 1)[1])
    parser.add_argument("checkpoint", help="a checkpoint file, or a run directory (its checkpoints/best.pt)")
    parser.add_argument("out", help="the file to write (.pt)")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    if "-h" in args or "--help" in args:
        print(parser.format_help(), end="")
        return 0
    options = parser.parse_args(list(args))
    out = export(options.checkpoint, options.out, options.force)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB): evaluate it with ntm eval checkpoint={out}")
    return 0

"""``ntm export CHECKPOINT OUT``: a trained model as a small file to share: its weights and config, no training state.

A checkpoint carries the optimizer's moments, every random state and the
progress a resume needs: three times the weights. An exported file keeps the
weights, the config they were trained with and what the training reached, so
``ntm eval checkpoint=OUT`` (figures included) works on it; a resume refuses it.
``--memory-n N`` writes it with N memory locations instead of those it trained
with (as ``eval.memory_n=N`` would evaluate it), for a model trained with a
small memory to be evaluated, by default, on long sequences.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ntm_cli import checkpoint
from ntm_cli.errors import ConfigError
from ntm_cli.models import spec_of
from ntm_cli.resume import saved_config

USAGE = "ntm export CHECKPOINT OUT [--force] [--memory-n N]"
# What an exported file keeps of the training, beside the weights and config: where it got to.
_KEPT = ("step", "sequences", "best", "validation", "solved", "trained_memory_n")


def exported(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The weights, config and progress of a loaded checkpoint, without its optimizer, schedule or random states."""
    state = {"config": ckpt["config"], "model": {k: v.detach().clone() for k, v in ckpt["model"].items()}}
    return state | {key: ckpt[key] for key in _KEPT if key in ckpt}


def resized(state: dict[str, Any], memory_n: int, source: object) -> dict[str, Any]:
    """An exported model with ``memory_n`` memory locations: its weights adapted as ``eval.memory_n`` adapts them
    and its config saying so; ``trained_memory_n`` keeps the number it trained with."""
    cfg = saved_config(state, source).model
    spec = spec_of(cfg)
    if spec.resize is None or not hasattr(cfg, "memory_n"):
        raise ConfigError(f"--memory-n applies to the memory models (ntm, dnc), not model={cfg.name}; drop it")
    try:
        weights = spec.resize(state["model"], memory_n)
    except ValueError as ex:
        raise ConfigError(str(ex)) from None
    config = {**state["config"], "model": {**state["config"]["model"], "memory_n": memory_n}}
    trained = state.get("trained_memory_n", cfg.memory_n)
    return state | {"config": config, "model": weights, "trained_memory_n": trained}


def export(source: str | Path, out: str | Path, force: bool = False, memory_n: int | None = None) -> Path:
    """Writes ``source``'s model (a checkpoint file, or a run directory's best.pt) to ``out``, with ``memory_n``
    memory locations where given; returns ``out``.

    Raises NtmError for a source that is not an ntm checkpoint, for an ``out`` that exists (unless ``force``), and
    for a ``memory_n`` the model cannot take.
    """
    out = Path(out)
    path = checkpoint.in_run(source, "best.pt")
    ckpt = checkpoint.load(path)
    if out.exists() and not force:
        raise ConfigError(f"{out} exists; give another OUT, or --force to replace it")
    if out.suffix != ".pt":
        raise ConfigError(f"{out} should end in .pt, as ntm's checkpoints do")
    if memory_n is not None and memory_n < 1:
        raise ConfigError(f"--memory-n is a number of memory locations, at least 1; got {memory_n}")
    state = exported(ckpt)
    checkpoint.save(resized(state, memory_n, path) if memory_n is not None else state, out)
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message}; usage: {USAGE}")


def command(args: Sequence[str]) -> int:
    """``ntm export CHECKPOINT OUT [--force] [--memory-n N]``: prints what it wrote and its size."""
    parser = _Parser(prog="ntm export", description=__doc__.splitlines()[0].split(": ", 1)[1])
    parser.add_argument("checkpoint", help="a checkpoint file, or a run directory (its checkpoints/best.pt)")
    parser.add_argument("out", help="the file to write (.pt)")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    parser.add_argument(
        "--memory-n", type=int, metavar="N", help="write the model with N memory locations (ntm, dnc), as eval.memory_n"
    )
    if "-h" in args or "--help" in args:
        print(parser.format_help(), end="")
        return 0
    options = parser.parse_args(list(args))
    out = export(options.checkpoint, options.out, options.force, options.memory_n)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB): evaluate it with ntm eval checkpoint={out}")
    return 0

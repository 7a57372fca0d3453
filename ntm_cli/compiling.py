"""Whether a run compiles its time step (``train.compile``), and the cache that makes a compile cheap the next time.

torch.compile takes tens of seconds the first time for a model, batch size
and thread count; inductor keeps what it built in a cache, so the next run
with the same step loads it in seconds. ntm puts that cache in one documented
place, ``~/.cache/ntm`` (``$NTM_CACHE_DIR``, or ``$XDG_CACHE_HOME/ntm``), and
notes there which steps it has compiled. With ``train.compile=null`` (the
default) a run compiles when its step is in the cache, or when it is long
enough to pay for the compile; a short run with a new step stays eager, so a
user never waits longer for the compile than for the training.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

import ntm_cli

# A run with a time budget of at least this many seconds pays for a compile whatever happens.
_LONG_RUN_SECONDS = 600
# Nor does a run without a target or budget that trains at least this many sequences.
_LONG_RUN_SEQUENCES = 100_000


def cache_dir() -> Path:
    """Where ntm keeps what lasts between runs: ``$NTM_CACHE_DIR``, ``$XDG_CACHE_HOME/ntm`` or ``~/.cache/ntm``."""
    if os.environ.get("NTM_CACHE_DIR"):
        return Path(os.environ["NTM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ntm"


def use_cache() -> None:
    """Points inductor's cache into ntm's, unless the user chose one with TORCHINDUCTOR_CACHE_DIR.

    Inductor writes its own default (a folder under /tmp) into that variable the first time it looks.
    """
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    current = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if current is None or os.path.abspath(current) == os.path.abspath(default_cache_dir()):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_dir() / "inductor")


def step_key(cfg: Any, input_size: int, output_size: int, device: torch.device) -> str:
    """What a compiled step depends on: the model, its sizes, the batch, the threads, torch and ntm's code."""
    models = Path(__file__).parent / "models"
    source = hashlib.sha1(b"".join(p.read_bytes() for p in sorted(models.glob("*.py")))).hexdigest()
    parts = {
        "model": asdict(cfg.model),
        "controller": asdict(cfg.controller),
        "sizes": [input_size, output_size],
        "batch": cfg.train.batch_size,
        "compile_steps": cfg.train.compile_steps,
        "device": device.type,
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "torch": torch.__version__,
        "ntm": ntm_cli.__version__,
        "models_source": source,
    }
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _marker(key: str) -> Path:
    return cache_dir() / "compiled" / f"{key}.json"


def is_cached(key: str) -> bool:
    return _marker(key).is_file()


def note_compiled(key: str, seconds: float, what: str) -> None:
    """Records that inductor's cache now holds this step (so that short runs of it compile too)."""
    path = _marker(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"step": what, "compile_seconds": round(seconds, 1)}) + "\n")


def decide(cfg: Any, stepwise: bool, key: str) -> tuple[bool, str]:
    """(compile?, why) for ``train.compile=null``; an explicit true or false is taken as it is."""
    t = cfg.train
    if not stepwise:
        return False, f"model={cfg.model.name} runs whole sequences in torch's own kernels; nothing to compile"
    if t.compile is not None:
        return t.compile, f"train.compile={str(t.compile).lower()}"
    if is_cached(key):
        return True, f"this step is in the compile cache ({cache_dir()})"
    long_budget = t.max_seconds is not None and t.max_seconds >= _LONG_RUN_SECONDS
    long_steps = t.max_seconds is None and t.target_bit_errors is None and t.steps * t.batch_size >= _LONG_RUN_SEQUENCES
    if long_budget or long_steps:
        return True, "a long run, which pays for the first compile of this step (later runs load it from the cache)"
    return False, (
        "a short run and this step is not in the compile cache yet: eager "
        "(train.compile=true compiles it once, for this and later runs)"
    )

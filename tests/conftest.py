"""Shared helpers: run the real ``ntm`` command in a temporary directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# A model and task small enough that a whole run takes a second or two.
TINY = [
    "task.max_len=3",
    "model.memory_n=8",
    "model.memory_m=4",
    "controller.hidden_size=8",
    "train.batch_size=4",
    "train.steps=6",
    "train.eval_every=3",
    "train.checkpoint_every=3",
    "train.log_every=2",
    "train.val_sequences=8",
    "train.target_bit_errors=null",
    # Some tasks' defaults compile the step and set a wall-time budget; tiny runs do neither.
    "train.compile=false",
    "train.max_seconds=null",
]


def ntm_executable() -> str:
    script = Path(sys.executable).parent / "ntm"
    if not script.exists():
        pytest.fail(f"the ntm console script is not installed beside {sys.executable}; run `make install`")
    return str(script)


def run_ntm(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs ``ntm ARGS`` as a user would, from ``cwd``; returns the finished process."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([ntm_executable(), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def single_thread():
    """Tiny tensors run much faster on one intra-op thread than on several on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One tiny training run, shared by the tests that only read its outputs."""
    root = tmp_path_factory.mktemp("trained")
    proc = run_ntm("train", *TINY, "hydra.run.dir=run", cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root / "run"


def tb_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every TensorBoard scalar of a run, as {tag: [(step, value), ...]}."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}

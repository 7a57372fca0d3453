"""Crash safety: a training run killed with SIGKILL at any moment loses at most the steps since its checkpoint."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import SMALL, assert_same, ntm_executable, run_ntm, tb_scalars

from ntm_cli import checkpoint

# A controller big enough that a checkpoint (weights and Adam's moments) takes a
# while to write, and a checkpoint and a log line after every step.
CRASHY = [
    "experiment=debug",
    *SMALL,
    "controller.hidden_size=384",
    "train.steps=1000000",
    "train.checkpoint_every=1",
    "train.log_every=1",
    "train.keep_checkpoints=2",
]
KILLS = 12


def _temporaries(run: Path) -> list[Path]:
    return [p for d in (run, run / "checkpoints") if d.is_dir() for p in d.iterdir() if p.name.endswith(".tmp")]


def _mtime(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.exists() else None


def _wait_for_a_new_checkpoint(proc: subprocess.Popen, last: Path, before: int | None) -> None:
    """Waits until the process has replaced ``last`` (it is past start-up and training)."""
    deadline = time.monotonic() + 120
    while _mtime(last) == before:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.005)


def _kill_while_writing(proc: subprocess.Popen, run: Path) -> None:
    """Polls for a checkpoint being written and kills the process the moment one is seen."""
    old = set(_temporaries(run))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not set(_temporaries(run)) - old:
        pass
    proc.send_signal(signal.SIGKILL)


@pytest.mark.slow
def test_sigkill_at_random_moments_never_corrupts_a_checkpoint_and_resume_goes_on(tmp_path):
    rng = random.Random(1410)
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.pt"
    steps_seen, caught_writing = [], 0
    for kill in range(KILLS):
        args = [*CRASHY, "hydra.run.dir=run"] if kill == 0 else ["resume=run"]
        proc = subprocess.Popen(
            [ntm_executable(), "train", *args], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _wait_for_a_new_checkpoint(proc, last, _mtime(last) if kill else None)
        if kill % 3 == 2:
            _kill_while_writing(proc, run)
        else:
            time.sleep(rng.uniform(0.0, 1.5))
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
        caught_writing += any(p.parent.name == "checkpoints" for p in _temporaries(run))

        # The newest checkpoint is whole, loads safely and never goes back.
        step = checkpoint.load(last)["step"]
        assert step >= (steps_seen[-1] if steps_seen else 1)
        steps_seen.append(step)
        for periodic in (run / "checkpoints").glob("step_*.pt"):
            checkpoint.load(periodic)

    assert caught_writing >= 1, "no kill landed while a checkpoint was being written"
    assert steps_seen[-1] > steps_seen[0], steps_seen

    # Resuming after the last kill finishes the run: every step logged once, nothing left half-written.
    final = steps_seen[-1] + 3
    proc = run_ntm("train", "resume=run", f"train.steps={final}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert checkpoint.load(last)["step"] == final
    assert [s for s, _ in tb_scalars(run)["train/cost_bits_per_sequence"]] == list(range(1, final + 1))
    assert not _temporaries(run)


@pytest.mark.slow
def test_the_same_command_run_again_after_a_kill_mid_checkpoint_ends_as_if_never_killed(tmp_path):
    """A requeued job: ``ntm train ARGS`` killed with SIGKILL while it writes a checkpoint, then the very same
    command again (train.resume=auto), ends with the weights, optimizer and random states of an unkilled run."""
    args = [*CRASHY, "train.steps=60", "train.keep_checkpoints=0"]
    straight = run_ntm("train", *args, "hydra.run.dir=straight", cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr
    run = tmp_path / "run"
    command = [ntm_executable(), "train", *args, "hydra.run.dir=run"]
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for_a_new_checkpoint(proc, run / "checkpoints" / "last.pt", None)
    _kill_while_writing(proc, run)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    killed_at = checkpoint.load(run / "checkpoints" / "last.pt")["step"]
    assert killed_at < 60
    again = run_ntm("train", *args, "hydra.run.dir=run", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"resumed at step {killed_at}" in (run / "train.log").read_text()
    a, b = (checkpoint.load(tmp_path / r / "checkpoints" / "last.pt") for r in ("straight", "run"))
    for key in ("model", "optimizer", "rng"):
        assert_same(a[key], b[key], key)
    assert a["step"] == b["step"] == 60 and a["best"] == b["best"]
    assert not _temporaries(run)

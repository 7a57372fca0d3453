"""ntm train resume=...: exact continuation, refused changes, and stopping on SIGINT/SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest
import torch
from conftest import TINY, ntm_executable, run_ntm, tb_scalars

MODELS = {
    "ntm": [],
    "dnc": [],
    "lstm": ["model.hidden_size=8", "model.layers=2"],
}


def _args(model: str) -> list[str]:
    return [f"model={model}", *[a for a in TINY if model != "lstm" or not a.startswith("model.")], *MODELS[model]]


def _assert_same(a, b, where: str = "") -> None:
    """Tensors equal bit for bit, recursively through dicts and lists."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


# The learning rate halves at every validation after the first (a cost falling by 90% would count as an
# improvement): validations at steps 3, 6, 9 and 12 take copy's lr 1e-2 to 1.25e-3, across the resume.
PLATEAU = ["optimizer.plateau.factor=0.5", "optimizer.plateau.patience=0", "optimizer.plateau.threshold=0.9"]


@pytest.mark.parametrize(
    ("model", "extra"), [*((m, []) for m in MODELS), ("ntm", PLATEAU)], ids=[*MODELS, "ntm-plateau"]
)
def test_stopping_and_resuming_equals_training_straight(tmp_path, model, extra):
    """12 steps straight == 6 steps, then resume=RUN for 6 more: parameters, optimizer, metrics, TensorBoard."""
    args = [a for a in _args(model) if not a.startswith("train.steps")] + extra
    proc = run_ntm("train", *args, "train.steps=12", "hydra.run.dir=straight", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = run_ntm("train", *args, "train.steps=6", "hydra.run.dir=halves", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    config_before = (tmp_path / "halves" / ".hydra" / "config.yaml").read_text()
    proc = run_ntm("train", "resume=halves", "train.steps=12", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr

    straight, halves = (
        torch.load(tmp_path / run / "checkpoints" / "last.pt", weights_only=True) for run in ("straight", "halves")
    )
    _assert_same(straight["model"], halves["model"], "model")
    _assert_same(straight["optimizer"], halves["optimizer"], "optimizer")
    _assert_same(straight["rng"], halves["rng"], "rng")
    _assert_same(straight["scheduler"], halves["scheduler"], "scheduler")
    if extra:
        assert straight["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1.25e-3, rel=1e-12)
        assert "lr 0.0025 -> 0.00125" in (tmp_path / "halves" / "train.log").read_text()
    assert (straight["step"], straight["sequences"], straight["best"]) == (
        halves["step"],
        halves["sequences"],
        halves["best"],
    )
    # Every logged scalar but the timings, at the same steps with the same values, none twice.
    a, b = tb_scalars(tmp_path / "straight"), tb_scalars(tmp_path / "halves")
    assert a.keys() == b.keys()
    for tag in a:
        if tag != "train/sequences_per_second":
            assert a[tag] == b[tag], tag
    assert [s for s, _ in b["train/loss"]] == [2, 4, 6, 8, 10, 12]
    # The run's own record of its config is kept; the log tells of the resume.
    assert (tmp_path / "halves" / ".hydra" / "config.yaml").read_text() == config_before
    assert "resumed at step 6" in (tmp_path / "halves" / "train.log").read_text()


def test_a_resume_that_would_change_the_model_is_refused(trained_run, tmp_path):
    before = (trained_run / "checkpoints" / "last.pt").read_bytes()
    log_before = (trained_run / "train.log").read_text()
    for change, key in (("model.memory_n=16", "model.memory_n"), ("optimizer=rmsprop", "optimizer")):
        proc = run_ntm("train", f"resume={trained_run}", change, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert f"{key} cannot change when resuming" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert (trained_run / "checkpoints" / "last.pt").read_bytes() == before
    assert "resumed" not in (trained_run / "train.log").read_text()[len(log_before) :]


@pytest.mark.parametrize(
    "args, words",
    [
        (["resume=nowhere"], "there is no checkpoint nowhere"),
        (["resume=nowhere", "-m"], "does not take -m"),
    ],
)
def test_bad_resume_paths_get_one_line(tmp_path, args, words):
    proc = run_ntm("train", *args, cwd=tmp_path)
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_run_with_a_checkpoint_and_says_how_to_resume(tmp_path, sig, code):
    args = [a for a in TINY if not a.startswith("train.steps")]
    proc = subprocess.Popen(
        [ntm_executable(), "train", *args, "train.steps=1000000", "hydra.run.dir=run"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log = tmp_path / "run" / "train.log"
    deadline = time.monotonic() + 120
    while not (log.exists() and "step 3: validation" in log.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code and "Traceback" not in stderr
    assert f"continue with: ntm train resume={tmp_path / 'run'}" in log.read_text()
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert saved["step"] >= 3
    proc2 = run_ntm("train", "resume=run", f"train.steps={saved['step'] + 2}", cwd=tmp_path)
    assert proc2.returncode == 0, proc2.stderr
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["step"] == saved["step"] + 2


def test_non_finite_steps_are_skipped_and_a_diverged_run_stops_with_one_line(tmp_path):
    """An absurd learning rate blows the weights up; no non-finite update is applied, and the run stops."""
    args = [a for a in TINY if not a.startswith("train.steps")]
    diverge = ["optimizer.lr=1e30", "train.clip_grad_norm=null", "train.max_bad_steps=3", "train.steps=100"]
    proc = run_ntm("train", *args, *diverge, "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    # Bad steps are counted on the device and checked at the logging steps (train.log_every=2).
    stopped = re.search(r"stopped at step (\d+): (\d+) steps in a row had a non-finite loss or gradient", proc.stderr)
    assert stopped and int(stopped[2]) >= 3 and int(stopped[1]) % 2 == 0, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    log = (tmp_path / "run" / "train.log").read_text()
    assert re.search(r"step \d+: \d+ step\(s\) since the last check had a non-finite loss or gradient", log)
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in saved["model"].values())


def test_a_second_ctrl_c_leaves_at_once_without_a_traceback(tmp_path):
    """Steps of 400 time steps leave time to press Ctrl-C again while the first one waits for the step."""
    args = [a for a in TINY if not a.startswith(("train.steps", "task."))]
    long_steps = ["task.min_len=200", "task.max_len=200", "model.memory_n=400", "train.steps=1000000"]
    proc = subprocess.Popen(
        [ntm_executable(), "train", *args, *long_steps, "hydra.run.dir=run"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = tmp_path / "run" / "train.log"

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 120
        while not (log.exists() and text in log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.02)

    wait_for("step 3: validation")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)  # two deliveries, not one merged signal; the step still running, most of the time
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert "Traceback" not in stderr, stderr
    assert proc.returncode == 130, (proc.returncode, stderr)
    # The newest checkpoint on disk is whole.
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["step"] >= 3

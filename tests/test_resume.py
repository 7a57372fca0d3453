"""Resuming: exact continuation, refused changes, nothing changed by a refused resume, and stopping on signals."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import torch
from conftest import SMALL, assert_same, config, ntm_executable, run, tb_scalars

from ntm_cli import resume, training
from ntm_cli.errors import CheckpointError, ConfigError
from ntm_cli.training import train

MODELS = {"ntm": [], "dnc": ["model=dnc"], "lstm": ["model=lstm", "model.hidden_size=8", "model.layers=2"]}


def _continue(run_dir, *overrides: str):
    found = resume.resolve(str(run_dir), list(overrides))
    return train(found.config, found.run_dir, checkpoint_state=found.checkpoint)


# The learning rate halves at every validation after the first (a cost falling by 90% would count as an
# improvement): validations at steps 3, 6, 9 and 12 take copy's lr 1e-2 to 1.25e-3, across the resume.
PLATEAU = ["optimizer.plateau.factor=0.5", "optimizer.plateau.patience=0", "optimizer.plateau.threshold=0.9"]


@pytest.mark.parametrize(
    ("model", "extra"), [*((m, []) for m in MODELS), ("ntm", PLATEAU)], ids=[*MODELS, "ntm-plateau"]
)
def test_stopping_and_resuming_equals_training_straight(tmp_path, model, extra):
    """12 steps straight == 6 steps, then resume for 6 more: parameters, optimizer, metrics, TensorBoard."""
    args = [*MODELS[model], *extra]
    small = [a for a in SMALL if model != "lstm" or not a.startswith("model.")]
    train(config(*small, *args, "train.steps=12", small=False), tmp_path / "straight")
    train(config(*small, *args, "train.steps=6", small=False), tmp_path / "halves")
    _continue(tmp_path / "halves", "train.steps=12")

    straight, halves = (
        torch.load(tmp_path / r / "checkpoints" / "last.pt", weights_only=True) for r in ("straight", "halves")
    )
    for key in ("model", "optimizer", "rng", "scheduler"):
        assert_same(straight[key], halves[key], key)
    if extra:
        assert straight["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1.25e-3, rel=1e-12)
        assert "lr 0.0025 -> 0.00125" in (tmp_path / "halves" / "train.log").read_text()
    for key in ("step", "sequences", "best", "validation"):
        assert straight[key] == halves[key], key
    # Every logged scalar but the timings, at the same steps with the same values, none twice.
    a, b = tb_scalars(tmp_path / "straight"), tb_scalars(tmp_path / "halves")
    assert a.keys() == b.keys()
    for tag in a:
        if tag != "train/sequences_per_second":
            assert a[tag] == b[tag], tag
    assert [s for s, _ in b["train/cost_bits_per_sequence"]] == [2, 4, 6, 8, 10, 12]
    assert "resumed at step 6" in (tmp_path / "halves" / "train.log").read_text()


def _files(run_dir) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["model.memory_n=16"], "model.memory_n cannot change when resuming"),
        (["optimizer=rmsprop"], "optimizer cannot change when resuming"),
        (["seed=3"], "seed cannot change when resuming"),
        (["train.steps=6"], "is at step 6 of train.steps=6; to train on, give train.steps above 6"),
        (["train.steps=3"], "is at step 6 of train.steps=3"),
        (["train.steps=abc"], "train.steps"),
    ],
)
def test_a_refused_resume_changes_nothing(trained_run, overrides, words):
    before = _files(trained_run)
    with pytest.raises((ConfigError, CheckpointError), match=words):
        resume.resolve(str(trained_run), overrides)
    assert _files(trained_run) == before


def test_a_run_that_used_its_time_or_reached_its_target_is_not_resumed_by_mistake(tmp_path):
    timed = run(tmp_path, "train.steps=100000", "train.max_seconds=0.3", name="timed")
    with pytest.raises(ConfigError, match="train.max_seconds=0.3; to train on, give a larger train.max_seconds"):
        resume.resolve(str(timed.run_dir))
    assert resume.resolve(str(timed.run_dir), ["train.max_seconds=null"]).config.train.max_seconds is None
    solved = run(tmp_path, "train.target_bit_errors=1000", name="solved")
    with pytest.raises(ConfigError, match="reached train.target_bit_errors=1000 at step 2"):
        resume.resolve(str(solved.run_dir))
    assert resume.resolve(str(solved.run_dir), ["train.target_bit_errors=null"]).checkpoint["step"] == 2


def test_resume_allows_where_and_how_long_and_keeps_the_rest(trained_run):
    found = resume.resolve(str(trained_run), ["train.steps=9", "device.threads=2", "eval.lengths=[4,5]"])
    assert found.run_dir == trained_run and found.path == trained_run / "checkpoints" / "last.pt"
    cfg = found.config
    assert (cfg.train.steps, cfg.device.threads, cfg.eval.lengths) == (9, 2, [4, 5])
    assert (cfg.model.memory_n, cfg.controller.hidden_size, cfg.train.batch_size) == (8, 8, 4)
    assert cfg.eval.num_sequences == 8  # a key not given keeps the run's own value (debug's, not the default)
    # A group choice takes that option: device=cpu, with its own default threads.
    assert resume.resolve(str(trained_run), ["device=cpu", "train.steps=9"]).config.device == type(cfg.device)(
        name="cpu"
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["resume=nowhere"], "there is no checkpoint nowhere"),
        (["resume=nowhere", "-m"], "does not take -m"),
        (["resume=nowhere", "hydra.run.dir=x"], "drop the hydra.* overrides"),
    ],
)
def test_bad_resume_paths_get_one_line(ntm, tmp_path, args, words):
    code, _, err = ntm("train", *args)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "nowhere").exists()


def test_resume_from_the_command_line_continues_in_the_runs_directory(ntm, tmp_path):
    code, _, err = ntm("train", "experiment=debug", *SMALL, "hydra.run.dir=run")
    assert code == 0, err
    config_before = (tmp_path / "run" / ".hydra" / "config.yaml").read_text()
    code, _, err = ntm("train", "resume=run", "train.steps=8")
    assert code == 0, err
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["step"] == 8
    assert (tmp_path / "run" / ".hydra" / "config.yaml").read_text() == config_before
    assert "resumed at step 6" in (tmp_path / "run" / "train.log").read_text()


def _start(tmp_path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [ntm_executable(), "train", "experiment=debug", *args, "hydra.run.dir=run"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _wait_for(proc: subprocess.Popen, log, text: str) -> None:
    deadline = time.monotonic() + 120
    while not (log.exists() and text in log.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_run_with_a_checkpoint_and_says_how_to_resume(tmp_path, sig, code):
    proc = _start(tmp_path, *SMALL, "train.steps=1000000")
    log = tmp_path / "run" / "train.log"
    _wait_for(proc, log, "step 3: validation")
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code and "Traceback" not in stderr
    assert f"continue with: ntm train resume={tmp_path / 'run'}" in log.read_text()
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert saved["step"] >= 3 and saved["ended_by"] == sig.name
    _continue(tmp_path / "run", f"train.steps={saved['step'] + 2}")
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["step"] == saved["step"] + 2


def test_a_second_ctrl_c_leaves_at_once_without_a_traceback(tmp_path):
    """Steps of 400 time steps leave time to press Ctrl-C again while the first one waits for the step."""
    long_steps = ["task.min_len=200", "task.max_len=200", "model.memory_n=400", "model.memory_m=4"]
    proc = _start(tmp_path, *long_steps, "train.steps=1000000")
    _wait_for(proc, tmp_path / "run" / "train.log", "step 3: validation")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)  # two deliveries, not one merged signal; the step still running, most of the time
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert "Traceback" not in stderr, stderr
    assert proc.returncode == 130, (proc.returncode, stderr)
    # The newest checkpoint on disk is whole.
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["step"] >= 3


class _Killed(BaseException):
    """What the process would die of: nothing in the run catches it."""


def test_a_run_killed_while_writing_a_checkpoint_and_started_again_ends_as_if_never_stopped(tmp_path, monkeypatch):
    """train.resume=auto (the default), as a requeued Slurm job meets it: the same config started again in
    the same run directory carries on from its last whole checkpoint and ends bit-identical."""
    args = ["train.steps=12", "train.checkpoint_every=4"]
    train(config(*args), tmp_path / "straight")
    real_save, saves = torch.save, []

    def dies_at_the_third_checkpoint(obj, f, *a, **k):
        saves.append(f)
        if len(saves) == 3:  # step 8's last.pt: half a file written, then the process is gone
            f.write(b"half a checkpoint")
            raise _Killed
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", dies_at_the_third_checkpoint)
    with pytest.raises(_Killed):
        train(config(*args), tmp_path / "requeued")
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.load(tmp_path / "requeued" / "checkpoints" / "last.pt", weights_only=True)["step"] == 4
    result = train(config(*args), tmp_path / "requeued")  # the same command, run again

    assert result.status == "done" and "resumed at step 4" in (tmp_path / "requeued" / "train.log").read_text()
    straight, requeued = (
        torch.load(tmp_path / r / "checkpoints" / "last.pt", weights_only=True) for r in ("straight", "requeued")
    )
    for key in ("model", "optimizer", "rng", "step", "sequences", "best", "validation"):
        assert_same(straight[key], requeued[key], key)
    a, b = tb_scalars(tmp_path / "straight"), tb_scalars(tmp_path / "requeued")
    assert a["train/cost_bits_per_sequence"] == b["train/cost_bits_per_sequence"]


def test_a_job_managers_warning_signal_saves_the_run_then_lets_the_manager_requeue_it(tmp_path, monkeypatch):
    """submitit handles SIGUSR2 (Slurm's warning before a time limit) by requeueing the job: ntm finishes the
    step, saves its checkpoint, then calls that handler; the job run again carries on from that step."""
    seen = []

    def manager(signum, frame):  # submitit's handler would requeue the job and exit
        seen.append(torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["step"])

    before = signal.signal(signal.SIGUSR2, manager)
    step = training.Sinks.step

    def warned_at_step_4(self):
        step(self)
        self.steps = getattr(self, "steps", 0) + 1
        if self.steps == 4:
            os.kill(os.getpid(), signal.SIGUSR2)

    monkeypatch.setattr(training.Sinks, "step", warned_at_step_4)
    try:
        result = train(config("train.steps=12"), tmp_path / "run")
    finally:
        signal.signal(signal.SIGUSR2, before)
    assert (result.status, result.stop_signal, result.metrics["steps"]) == ("stopped", "SIGUSR2", 4)
    assert seen == [4] and signal.getsignal(signal.SIGUSR2) is before
    monkeypatch.setattr(training.Sinks, "step", step)
    again = train(config("train.steps=12"), tmp_path / "run")
    assert again.status == "done" and "resumed at step 4" in (tmp_path / "run" / "train.log").read_text()

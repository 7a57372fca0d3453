"""Sweeps beyond Hydra's basic launcher: Slurm through submitit (run locally, and the sbatch script a cluster would
get) and the Optuna search preset (experiment=search).

Each test runs ``ntm`` in this process on experiment=debug's tiny runs; a deadline fails a test that would hang.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SMALL
from omegaconf import OmegaConf

# optuna 2 uses SQLAlchemy 1.4 the old way, and says so when it is imported.
pytestmark = pytest.mark.filterwarnings("ignore:Deprecated API features detected")

DEBUG = ["experiment=debug", *SMALL]
# The search preset on experiment=debug's tiny runs; the memory sizes searched are tiny too.
SEARCH = ["experiment=[search,debug]", "task=copy", "task.max_len=3", "model.memory_m=4", "model.memory_n=choice(8,12)"]


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Raises TimeoutError in the block after ``seconds``: a launcher waiting on a job never hangs the tests."""

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def job_folders(sweep: Path) -> list[Path]:
    """The sweep's job folders, without submitit's .submitit/."""
    return sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))


# -- Slurm through submitit ------------------------------------------------------------------------------------------


def test_submitit_local_runs_each_job_in_a_process_of_its_own_and_summarize_skips_its_logs(ntm, tmp_path):
    """hydra/launcher=submitit_local pickles each job and runs it in a new python, as on a Slurm node. About 20 s:
    each job's process imports torch."""
    launcher = ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5", "hydra.launcher.cpus_per_task=1"]
    with deadline(300):
        code, _, err = ntm("train", "-m", *DEBUG, "seed=0,1", *launcher, "hydra.sweep.dir=sweep")
    assert code == 0, err
    sweep = tmp_path / "sweep"
    jobs = job_folders(sweep)
    assert [j.name for j in jobs] == [
        f"experiment=debug,model.memory_m=4,model.memory_n=8,seed={s},task.max_len=3" for s in (0, 1)
    ]
    assert [json.loads((j / "metrics.json").read_text())["status"] for j in jobs] == ["done", "done"]
    # submitit's job id is the process id of the job: two processes, neither this one.
    ids = {str(OmegaConf.load(j / ".hydra" / "hydra.yaml").hydra.job.id) for j in jobs}
    assert len(ids) == 2 and str(os.getpid()) not in ids
    assert {p.parent.name for p in sweep.glob(".submitit/*/*_result.pkl")} == ids

    code, _, err = ntm("summarize", "sweep")
    assert code == 0, err
    runs = json.loads((sweep / "summary.json").read_text())["runs"]
    assert [(r["job"], r["status"]) for r in runs] == [(j.name, "done") for j in jobs]


def fake_slurm(bin_dir: Path, script_copy: Path, calls: Path) -> None:
    """sbatch, sacct, srun, squeue, scancel and scontrol that log their calls: sbatch keeps the script it is given
    and names job 4242; sacct reports the array's jobs FAILED, so the launcher stops waiting at once."""
    bodies = {
        "sbatch": f'cp "$1" {script_copy}\necho "Submitted batch job 4242"',
        "sacct": r"printf 'JobID|State|NodeList\n4242_0|FAILED|node1\n4242_1|FAILED|node1\n'",
    }
    bin_dir.mkdir()
    for name in ("sbatch", "sacct", "srun", "squeue", "scancel", "scontrol"):
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\n{bodies.get(name, "exit 0")}\n')
        path.chmod(0o755)


def test_the_slurm_launcher_submits_the_sweep_as_one_sbatch_array_with_its_settings(ntm, tmp_path, monkeypatch):
    """hydra/launcher=slurm on a fake Slurm: the script sbatch receives, and the requeue count in each pickled job.
    No job runs here (so device=cuda is not checked), and the fake jobs fail without a result."""
    from submitit.core.core import Job
    from submitit.core.utils import DelayedSubmission, UncompletedJobError

    script, calls = tmp_path / "submitted.sh", tmp_path / "calls.log"
    fake_slurm(tmp_path / "bin", script, calls)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(Job, "_results_timeout_s", 0)  # a failed job's result is not waited for
    args = ["hydra/launcher=slurm", "hydra.launcher.partition=debugq", "hydra.launcher.gpus_per_node=1", "device=cuda"]
    with deadline(60), pytest.raises(UncompletedJobError, match="4242_0"):
        ntm("train", "-m", *DEBUG, *args, "seed=0,1", "hydra.sweep.dir=sweep")

    assert [line.split()[0] for line in calls.read_text().splitlines()] == ["sbatch", "sacct"]
    lines = script.read_text().splitlines()
    for flag in (
        "--partition=debugq",
        "--time=120",
        "--cpus-per-task=4",
        "--mem=16GB",
        "--gpus-per-node=1",
        "--nodes=1",
        "--ntasks-per-node=1",
        "--array=0-1%2",
        "--signal=USR2@120",  # submitit's cue to requeue, 120 s before the time limit
        "--requeue",
        "--open-mode=append",  # a requeued job's log goes on in the same file
        "--job-name=train",
    ):
        assert f"#SBATCH {flag}" in lines, flag
    folder = tmp_path / "sweep" / ".submitit" / "%j"
    (command,) = [line for line in lines if line.startswith("srun ")]
    assert command.endswith(f"{sys.executable} -u -m submitit.core._submit {folder}")
    pickled = sorted(folder.parent.glob("4242_*/*_submitted.pkl"))
    assert [p.parent.name for p in pickled] == ["4242_0", "4242_1"]
    assert [DelayedSubmission.load(p)._timeout_countdown for p in pickled] == [3, 3]  # requeued after 3 timeouts


# -- Optuna ----------------------------------------------------------------------------------------------------------


def objectives(sweep: Path) -> list[float]:
    """Each trial's objective (the default, validation.cost_bits_per_sequence), from its metrics.json."""
    return [
        json.loads((j / "metrics.json").read_text())["validation"]["cost_bits_per_sequence"] for j in job_folders(sweep)
    ]


def test_the_search_preset_runs_its_trials_and_keeps_the_best(ntm, tmp_path):
    with deadline(180):
        code, _, err = ntm("train", "-m", *SEARCH, "hydra.sweeper.n_trials=4", "hydra.sweep.dir=sweep")
    assert code == 0, err
    sweep = tmp_path / "sweep"
    found = objectives(sweep)
    assert len(found) == 4 and len(set(found)) > 1
    results = OmegaConf.load(sweep / "optimization_results.yaml")
    assert results.best_value == pytest.approx(min(found))
    assert set(results.best_params) == {"optimizer.lr", "train.batch_size", "model.memory_n"}
    assert 1e-4 <= results.best_params["optimizer.lr"] <= 3e-2
    assert results.best_params["train.batch_size"] in (8, 16, 32) and results.best_params["model.memory_n"] in (8, 12)


def test_a_study_kept_in_a_database_file_continues(ntm, tmp_path):
    """The same study_name (TASK_MODEL) and storage continue the study. The new run takes another sampler seed:
    with the same one, its first trials would repeat the first run's."""
    import optuna

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    with deadline(240):
        code, _, err = ntm("train", "-m", *SEARCH, "hydra.sweeper.n_trials=4", f"hydra.sweeper.storage={storage}")
        assert code == 0, err
        assert (tmp_path / "study.db").is_file()
        more = ["hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.seed=1", "hydra.sweep.dir=more"]
        code, _, err = ntm("train", "-m", *SEARCH, f"hydra.sweeper.storage={storage}", *more)
        assert code == 0, err
    trials = optuna.load_study(study_name="copy_ntm", storage=storage).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 6
    first, then = [t.params for t in trials[:4]], [t.params for t in trials[4:]]
    assert all(params not in first for params in then)
    assert sorted(t.value for t in trials[4:]) == pytest.approx(sorted(objectives(tmp_path / "more")))


def test_a_failed_trial_is_recorded_and_the_search_goes_on(ntm, tmp_path):
    """With the preset's seed, trial 0 takes model.memory_n=8 and trial 1 model.memory_n=0, which is refused."""
    debug = [a if not a.startswith("model.memory_n") else "model.memory_n=choice(0,8)" for a in SEARCH]
    with deadline(120):
        code, _, err = ntm("train", "-m", *debug, "hydra.sweeper.n_trials=2", "hydra.sweep.dir=sweep")
    assert code == 1 and "1 sweep job(s) failed" in err
    results = OmegaConf.load(tmp_path / "sweep" / "optimization_results.yaml")
    assert results.best_params["model.memory_n"] == 8 and not math.isnan(results.best_value)

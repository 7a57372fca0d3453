"""Sweeps whose jobs run at once (Hydra's joblib launcher), and a run started again in its own directory."""

from __future__ import annotations

import datetime
import re

from conftest import SMALL

from ntm_cli import device

DEBUG = ["experiment=debug", *SMALL]


def _span(log: str) -> tuple[datetime.datetime, datetime.datetime]:
    """The first and last timestamps of a train.log."""
    stamps = re.findall(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]", log, flags=re.M)
    first, last = (datetime.datetime.strptime(s, "%Y-%m-%d %H:%M:%S,%f") for s in (stamps[0], stamps[-1]))
    return first, last


def test_a_joblib_sweep_runs_its_jobs_at_once_each_on_its_share_of_the_cores(ntm, tmp_path):
    args = [*DEBUG, "train.steps=300", "train.eval_every=100", "train.batch_size=64", "device.threads=null"]
    code, _, err = ntm("train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *args, "seed=0,1")
    assert code == 0, err
    logs = sorted((tmp_path / "outputs" / "multirun").glob("*/*/*/train.log"))
    assert len(logs) == 2
    (start_a, end_a), (start_b, end_b) = (_span(p.read_text()) for p in logs)
    assert start_a < end_b and start_b < end_a  # the two jobs trained at the same time
    share = max(1, device.cores() // 2)
    for log in logs:
        assert f"device cpu ({min(share, 4)} thread(s))" in log.read_text()
        assert (log.parent / "metrics.json").exists()


def test_the_same_command_run_again_carries_on_where_its_run_stopped(ntm, tmp_path):
    code, _, err = ntm("train", *DEBUG, "train.steps=6", "hydra.run.dir=run")
    assert code == 0, err
    code, _, err = ntm("train", *DEBUG, "train.steps=9", "hydra.run.dir=run")
    assert code == 0, err
    log = (tmp_path / "run" / "train.log").read_text()
    assert "resumed at step 6" in log and "stopped at step 9" in log

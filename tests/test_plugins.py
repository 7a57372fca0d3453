"""A user's own task, model and metric, as docs/extending.md shows them: its code and commands, run as written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import evaluate_run, run, tb_scalars

from ntm_cli import metrics

DOC = (Path(__file__).resolve().parents[1] / "docs" / "extending.md").read_text()


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.S)


def user_files(folder: Path) -> None:
    """The page's example modules (blocks that start with ``# NAME.py``), written into ``folder``."""
    for block in code_blocks("python"):
        name = re.match(r"# (\w+\.py)\n", block)
        if name:
            (folder / name.group(1)).write_text(block)


def commands(module: str) -> list[list[str]]:
    """The page's ``ntm ...`` lines that use ``module``, as argument lists (without ``ntm``)."""
    lines = [
        line.split()[1:] for block in code_blocks("bash") for line in block.splitlines() if line.startswith("ntm ")
    ]
    runs = [args for args in lines if any(module in a for a in args)]
    dirs = {a.split("=", 1)[1] for args in runs for a in args if a.startswith("hydra.run.dir=")}
    return runs + [args for args in lines if any(a == f"checkpoint={d}" for a in args for d in dirs)]


@pytest.mark.parametrize("module", ["my_tasks", "my_models"])
def test_the_pages_task_and_model_train_and_evaluate(ntm, tmp_path, module):
    user_files(tmp_path)
    (train_args, eval_args) = commands(module)
    code, out, err = ntm(*train_args, "task.max_len=3" if module == "my_models" else "seed=1")
    assert code == 0, err
    run_dir = tmp_path / next(a.split("=", 1)[1] for a in train_args if a.startswith("hydra.run.dir="))
    ckpt = json.loads((run_dir / "metrics.json").read_text())
    assert ckpt["status"] == "done" and ckpt["steps"] == 6
    code, out, err = ntm(*eval_args, "eval.num_sequences=4")
    assert code == 0, err
    (ev,) = (run_dir / "eval").iterdir()
    rows = json.loads((ev / "eval.json").read_text())["rows"]
    assert len(rows) == 2 and all(row["cost_bits_per_sequence"] > 0 for row in rows.values())


def test_a_users_task_is_described_and_checked_like_ours(ntm, tmp_path):
    user_files(tmp_path)
    code, out, _ = ntm("train", "task=custom", "task._target_=my_tasks.Parity", "--help")
    assert code == 0 and "task.bits=6" in out and "bits per sequence" in out
    code, _, err = ntm("train", "experiment=debug", "task=custom", "task._target_=my_tasks.Parity", "task.bits=0")
    assert code == 2 and "task.bits=0 must be greater than 0" in err
    code, _, err = ntm("train", "experiment=debug", "task=custom", "task._target_=my_tasks.Parity", "task.bitz=3")
    assert code == 2 and "unknown key 'task.bitz'" in err
    code, _, err = ntm("train", "task=custom", "task._target_=my_models.GRUModel")
    assert code == 2 and "is not a task: make it a dataclass that subclasses ntm_cli.tasks.Task" in err


def test_a_metric_is_one_entry(tmp_path, monkeypatch):
    """The page's metric, added to METRICS alone, reaches TensorBoard, metrics.json and ntm eval."""
    (block,) = [b for b in code_blocks("python") if b.startswith("Metric(")]
    namespace = {"Metric": metrics.Metric, "SEQUENCE": metrics.SEQUENCE, "bit_errors": metrics.bit_errors}
    metric = eval(block.strip().rstrip(","), namespace)
    monkeypatch.setattr(metrics, "METRICS", (*metrics.METRICS, metric))
    monkeypatch.setitem(metrics.BY_NAME, metric.name, metric)
    result = run(tmp_path, f"objective=validation.{metric.name}")
    value = result.metrics["validation"][metric.name]
    assert 0 <= value <= 1 and result.objective == value
    assert [s for s, _ in tb_scalars(result.run_dir)[f"train/{metric.name}"]] == [2, 4, 6]
    assert [s for s, _ in tb_scalars(result.run_dir)[f"val/{metric.name}"]] == [3, 6]
    assert all(metric.name in row for row in evaluate_run(result.run_dir, "eval.lengths=[4]").result["rows"].values())

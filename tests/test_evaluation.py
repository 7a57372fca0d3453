"""``evaluate(cfg)``: rows by the task's protocol, written as they are measured, beside the run evaluated."""

from __future__ import annotations

import json
import os
import signal

import pytest
from conftest import evaluate_run

from ntm_cli import metrics


def test_eval_reports_each_length_and_writes_beside_the_run(trained_run):
    result = evaluate_run(trained_run / "checkpoints" / "best.pt", "eval.lengths=[2,5]")
    assert result.status == "done" and result.run_dir.parent == trained_run / "eval"
    saved = json.loads((result.run_dir / "eval.json").read_text())
    assert saved == result.result and saved["complete"]
    assert list(saved["rows"]) == ["length 1-3", "length 2", "length 5"]
    for row in saved["rows"].values():
        assert set(row) == {"bit_errors_per_sequence", "cost_bits_per_sequence"}
        assert 0 <= row["bit_errors_per_sequence"] <= 5 * 8
    table = (result.run_dir / "eval.txt").read_text()
    assert "bit errors/seq" in table and "\nlength 5  " in table


def test_a_run_directory_means_its_best_checkpoint(trained_run):
    result = evaluate_run(trained_run, "eval.lengths=[4]")
    assert result.result["checkpoint"] == str((trained_run / "checkpoints" / "best.pt").resolve())


def test_eval_defaults_to_the_papers_copy_lengths(trained_run, tmp_path):
    result = evaluate_run(trained_run, "eval.num_sequences=2", out=tmp_path / "ev")
    assert list(result.result["rows"]) == ["length 1-3"] + [f"length {n}" for n in (10, 20, 30, 50, 120)]


def test_eval_with_a_larger_memory_than_trained_and_warnings_beyond_it(trained_run, caplog):
    """eval.memory_n runs a model trained with 8 locations on sequences that need 40."""
    result = evaluate_run(trained_run, "eval.lengths=[4,20]")
    assert "length 20: up to 20 vectors to hold and 8 memory locations; expect errors" in caplog.text
    assert "length 4:" not in caplog.text
    caplog.clear()
    result = evaluate_run(trained_run, "eval.memory_n=64", "eval.lengths=[40]")
    assert result.result["memory_n"] == 64 and list(result.result["rows"]) == ["length 1-3", "length 40"]
    assert "expect errors" not in caplog.text


def test_a_stop_keeps_the_rows_already_measured(trained_run, monkeypatch):
    """SIGINT while the second row is measured: that row finishes, the others are not started, all is saved."""
    real = metrics.measure
    calls = []

    def measure(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(metrics, "measure", measure)
    result = evaluate_run(trained_run, "eval.lengths=[4,5,6]")
    assert result.status == "stopped" and result.stop_signal == "SIGINT" and len(calls) == 2
    saved = json.loads((result.run_dir / "eval.json").read_text())
    assert list(saved["rows"]) == ["length 1-3", "length 4"] and not saved["complete"]


@pytest.mark.parametrize("stop", [signal.SIGTERM])
def test_eval_exits_with_the_signals_status(ntm, trained_run, monkeypatch, stop):
    real = metrics.measure

    def measure(*args, **kwargs):
        os.kill(os.getpid(), stop)
        return real(*args, **kwargs)

    monkeypatch.setattr(metrics, "measure", measure)
    code, _, err = ntm(
        "eval", f"checkpoint={trained_run}", "eval.lengths=[4]", "eval.num_sequences=2", "hydra.run.dir=ev"
    )
    assert code == 143 and "Traceback" not in err
    assert len(json.loads((ntm.cwd / "ev" / "eval.json").read_text())["rows"]) == 1

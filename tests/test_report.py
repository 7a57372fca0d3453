"""``ntm report``: a real sweep (2 settings x 2 seeds, each evaluated) read back as report.md and the arrays behind
its figures, checked against the runs' own metrics.json, TensorBoard scalars and eval.json."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import statistics
import sys
from pathlib import Path

import pytest
import yaml
from conftest import main_in_process, tb_scalars

from ntm_cli import compose, evaluate
from ntm_cli.report import (
    Band,
    Panel,
    band,
    curves_caption,
    generalisation,
    generalisation_caption,
    generalisation_tables,
    learning_curves,
    markdown,
    read_runs,
    row_size,
    setting_label,
    stretched,
    targets_table,
    training_span,
    wide,
)
from ntm_cli.summary import Setting, number, spread, spread_text

# 6 steps of batch 4, validated every 2 steps: points at 8, 16 and 24 sequences.
SWEEP = ["experiment=debug", "task.max_len=3", "model.memory_m=4", "model.memory_n=8,12", "seed=0,1"]
SWEEP += ["train.eval_every=2"]
PNG = b"\x89PNG\r\n\x1a\n"


def _job(sweep: Path, memory_n: int, seed: int) -> Path:
    """A job folder, named by its overrides as Hydra names it."""
    name = f"experiment=debug,model.memory_m=4,model.memory_n={memory_n},seed={seed},task.max_len=3,train.eval_every=2"
    return sweep / name


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """The sweep above, each run evaluated on lengths 2 and 4."""
    root = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("HYDRA_FULL_ERROR", raising=False)
        assert main_in_process("train", "-m", *SWEEP, "hydra.sweep.dir=sweep") == 0
    for memory_n in (8, 12):
        for seed in (0, 1):
            job = f"checkpoint='{_job(root / 'sweep', memory_n, seed)}'"  # a sweep job's name holds = and ,
            evaluate(compose("eval", [job, "eval.num_sequences=4", "eval.lengths=[2,4]"]))
    return root / "sweep"


def _table(text: str, title: str) -> list[dict[str, str]]:
    """The Markdown table under the heading that starts with ``title``, as one dict per row."""
    lines = text.split(title, 1)[1].split("\n\n", 2)[1].splitlines()
    headers = [cell.strip() for cell in lines[0].strip("|").split(" | ")]
    return [dict(zip(headers, (c.strip() for c in line.strip("|").split(" | ")), strict=True)) for line in lines[2:]]


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ntm report: error: "), err
    return lines[0]


def test_report_md_holds_the_tables_and_links_each_figure_by_relative_path(ntm, sweep):
    code, out, err = ntm("report", str(sweep))
    folder = sweep / "report"
    assert code == 0, err
    assert out == f"wrote {folder / 'report.md'} with learning_curves.png, generalisation.png\n"
    for name in ("learning_curves.png", "generalisation.png"):
        assert (folder / name).read_bytes()[:8] == PNG
    text = (folder / "report.md").read_text()
    assert text.startswith(f"# Report on {sweep.as_posix()}\n") and f"Made by `ntm report {sweep}`." in text
    assert "](learning_curves.png)" in text and "](generalisation.png)" in text
    runs, settings = _table(text, "## Runs"), _table(text, "## Settings over seeds")
    for memory_n in (8, 12):
        for seed in (0, 1):
            job = _job(sweep, memory_n, seed)
            record = json.loads((job / "metrics.json").read_text())
            (row,) = [row for row in runs if row["job"] == job.name]
            assert (row["model.memory_n"], row["seed"], row["status"]) == (str(memory_n), str(seed), "done")
            assert row["validation.cost_bits_per_sequence"] == number(record["validation"]["cost_bits_per_sequence"])
    assert [(row["model.memory_n"], row["runs"], row["solved"]) for row in settings] == [
        ("8", "2", "0/2"),
        ("12", "2", "0/2"),
    ]


def test_learning_curves_are_the_median_min_and_max_over_seeds_of_the_tensorboard_scalars(sweep):
    found, runs = read_runs([sweep])
    (panel,) = learning_curves(found, runs)
    assert panel.task == "copy" and [b.label for b in panel.bands] == [
        "model.memory_n=8 (2 seeds)",
        "model.memory_n=12 (2 seeds)",
    ]
    for memory_n, line in zip((8, 12), panel.bands, strict=True):
        jobs = [_job(sweep, memory_n, seed) for seed in (0, 1)]
        points = [dict(tb_scalars(job)["val/cost_bits_per_sequence"]) for job in jobs]
        batch = yaml.safe_load((jobs[0] / ".hydra" / "config.yaml").read_text())["train"]["batch_size"]
        steps = sorted(points[0])
        assert steps == sorted(points[1]) == [2, 4, 6]
        assert line.x == [step * batch for step in steps] == [8, 16, 24]
        assert line.median == pytest.approx([statistics.median(p[s] for p in points) for s in steps])
        assert line.low == pytest.approx([min(p[s] for p in points) for s in steps])
        assert line.high == pytest.approx([max(p[s] for p in points) for s in steps])
        assert line.seeds == [2, 2, 2] and line.runs == 2
        assert all(low < high for low, high in zip(line.low, line.high, strict=True)), "the seeds differ"


def test_a_run_still_running_or_without_tb_is_left_out_of_the_curves_and_said_so(sweep, tmp_path):
    found, runs = read_runs([sweep])
    assert [(r.run.overrides["model.memory_n"], r.run.overrides["seed"]) for r in runs] == [
        ("8", "0"),
        ("8", "1"),
        ("12", "0"),
        ("12", "1"),
    ]
    running = dataclasses.replace(runs[0], run=dataclasses.replace(runs[0].run, status="running"))
    no_tb = dataclasses.replace(runs[2], folder=tmp_path)
    (panel,) = learning_curves(found, [running, runs[1], no_tb, runs[3]])
    assert [b.label for b in panel.bands] == ["model.memory_n=8 (1 seed)", "model.memory_n=12 (1 seed)"]
    assert panel.bands[0].median == [v for _, v in tb_scalars(runs[1].folder)["val/cost_bits_per_sequence"]]
    assert "2 runs not drawn: still running, or no validation in tb/" in curves_caption([panel], len(runs))


def test_seeds_that_stopped_at_different_steps_share_the_steps_they_have():
    """One seed solved at step 2; another has a NaN at step 3: each point is over the finite values there."""
    line = band("s", [[(1, 4.0), (2, 1.0)], [(1, 2.0), (2, 3.0), (3, 8.0)], [(1, 9.0), (2, 5.0), (3, math.nan)]])
    assert (line.x, line.median, line.low, line.high, line.seeds) == (
        [1, 2, 3],
        [4.0, 3.0, 8.0],
        [2.0, 1.0, 8.0],
        [9.0, 5.0, 8.0],
        [3, 3, 1],
    )
    assert line.runs == 3
    assert "Not every seed has every point" in curves_caption([Panel("copy", "", [line])], 3)
    flat = Band("f", 1, [1, 2], [5.0, 5.0], [5.0, 5.0], [5.0, 5.0], [1, 1])
    assert "Not every seed" not in curves_caption([Panel("copy", "", [flat])], 1)


def test_the_y_axis_is_logarithmic_only_beyond_two_decades():
    def panel(low: float, high: float) -> Panel:
        return Panel("copy", "", [Band("b", 1, [1, 2], [high, low], [high, low], [high, low], [1, 1])])

    assert wide(panel(0.05, 20.0)) and "Log y-scale" in curves_caption([panel(0.05, 20.0)], 1)
    assert not wide(panel(0.5, 20.0)) and "Log y-scale" not in curves_caption([panel(0.5, 20.0)], 1)


def test_generalisation_uses_a_symmetric_log_scale_when_errors_near_zero_sit_beside_large_ones():
    def panel(*values: float) -> Panel:
        v = list(values)
        return Panel("copy", "length", [Band("b", 1, list(range(len(v))), v, v, v, [1] * len(v))])

    assert stretched(panel(0.0, 0.05, 400.0)) and stretched(panel(0.5, 2.0))
    assert not stretched(panel(0.0, 0.5)) and not stretched(panel(3.0, 400.0))
    assert "Symmetric log y-scale" in generalisation_caption(None, [panel(0.0, 400.0)])
    assert "Symmetric log y-scale" not in generalisation_caption(16, [panel(0.0, 0.5)])
    assert "(`eval.memory_n=16`)" in generalisation_caption(16, [panel(0.0, 0.5)])


def test_a_setting_without_the_swept_keys_is_labelled_as_at_their_default():
    at_default = Setting({}, 3, 0, {})
    assert setting_label(at_default, ["model.memory_n", "seed"]) == "model.memory_n at the default"
    assert setting_label(Setting({"model.memory_n": "32"}, 5, 0, {}), ["model.memory_n"]) == "model.memory_n=32"
    assert setting_label(at_default, []) == "all runs"


def test_generalisation_is_the_median_over_seeds_of_each_eval_json_row(sweep):
    found, runs = read_runs([sweep])
    (panel,) = generalisation(found, runs)
    assert (panel.task, panel.xlabel, panel.span) == ("copy", "length", (1, 3))
    for memory_n, line in zip((8, 12), panel.bands, strict=True):
        assert line.label == f"model.memory_n={memory_n} (2 seeds)"
        files = [next((_job(sweep, memory_n, seed) / "eval").glob("*/eval.json")) for seed in (0, 1)]
        rows = [json.loads(f.read_text())["rows"] for f in files]
        assert all(list(r) == ["length 1-3", "length 2", "length 4"] for r in rows)
        values = [[r[f"length {n}"]["bit_errors_per_sequence"] for r in rows] for n in (2, 4)]
        assert line.x == [2, 4], "the training range is a span, not a point"
        assert line.median == pytest.approx([statistics.median(v) for v in values])
        assert (line.low, line.high) == ([min(v) for v in values], [max(v) for v in values])
        assert line.each == tuple(tuple((n, v[seed]) for n, v in zip((2, 4), values, strict=True)) for seed in (0, 1))


def test_evaluations_with_another_memory_are_drawn_only_when_asked_for(ntm, sweep, tmp_path):
    """A run evaluated twice, with its own 8 locations and with eval.memory_n=16: the report keeps each apart."""
    run = tmp_path / "run"
    shutil.copytree(_job(sweep, 8, 0), run)
    overrides = [f"checkpoint={run}", "eval.num_sequences=4", "eval.lengths=[6]", "eval.memory_n=16"]
    evaluate(compose("eval", overrides), run / "eval" / "with_16")  # a folder of its own, whatever the clock says
    larger = run / "eval" / "with_16" / "eval.json"
    assert len(list((run / "eval").glob("*/eval.json"))) == 2 and json.loads(larger.read_text())["memory_n"] == 16
    found, runs = read_runs([run])
    (panel,) = generalisation(found, runs)
    assert panel.bands[0].x == [2, 4], "by default, only the evaluation with the memory it trained with"
    (panel,) = generalisation(found, runs, memory_n=16)
    value = json.loads(larger.read_text())["rows"]["length 6"]["bit_errors_per_sequence"]
    assert (panel.bands[0].x, panel.bands[0].median) == ([6], [value])
    assert generalisation(found, runs, memory_n=32) == []
    code, _, err = ntm("report", str(run), "--memory-n", "16")
    assert code == 0, err
    text = (run / "report" / "report.md").read_text()
    assert "Every run evaluated with 16 memory locations (`eval.memory_n=16`)" in text and "| length 6 |" in text


def test_the_evaluations_are_tabled_run_by_run_with_each_settings_median_under_its_runs(ntm, sweep):
    found, runs = read_runs([sweep])
    tables = generalisation_tables(found, runs)
    assert list(tables) == ["copy"]
    code, _, err = ntm("report", str(sweep))
    assert code == 0, err
    assert tables["copy"] in (sweep / "report" / "report.md").read_text()
    rows = _table("### x\n\n" + tables["copy"], "### x")
    assert [(r["model.memory_n"], r["seed"]) for r in rows] == [
        ("8", "0"),
        ("8", "1"),
        ("8", "median of 2"),
        ("12", "0"),
        ("12", "1"),
        ("12", "median of 2"),
    ]
    for memory_n, (first, second, median) in zip((8, 12), (rows[:3], rows[3:]), strict=True):
        evals = [
            json.loads(next((_job(sweep, memory_n, seed) / "eval").glob("*/eval.json")).read_text())["rows"]
            for seed in (0, 1)
        ]
        for name in ("length 1-3", "length 2", "length 4"):
            values = [e[name]["bit_errors_per_sequence"] for e in evals]
            assert (first[name], second[name]) == (number(values[0]), number(values[1]))
            assert median[name] == spread_text(spread(values))


def test_the_targets_table_counts_the_runs_whose_best_validation_meets_the_tasks_target(sweep):
    found, runs = read_runs([sweep])
    rows = _table("### x\n\n" + targets_table(found, runs), "### x")
    assert [(r["model.memory_n"], r["task"], r["target"]) for r in rows] == [
        ("8", "copy", "bit_errors_per_sequence <= 0.01"),
        ("12", "copy", "bit_errors_per_sequence <= 0.01"),
    ]
    for memory_n, row in zip((8, 12), rows, strict=True):
        bests = [
            json.loads((_job(sweep, memory_n, seed) / "metrics.json").read_text())["best"]["bit_errors_per_sequence"]
            for seed in (0, 1)
        ]
        assert row["reached"] == f"{sum(b <= 0.01 for b in bests)}/2"
        assert row["best figure"] == spread_text(spread(bests))


def test_a_run_solved_and_one_not_are_counted_apart(sweep):
    found, runs = read_runs([sweep])
    solved = dataclasses.replace(runs[0].run, figures={**runs[0].run.figures, "best.bit_errors_per_sequence": 0.0})
    failed = dataclasses.replace(runs[1].run, figures={**runs[1].run.figures, "best.bit_errors_per_sequence": 2.5})
    mixed = [dataclasses.replace(runs[0], run=solved), dataclasses.replace(runs[1], run=failed)]
    rows = _table("### x\n\n" + targets_table(found, mixed), "### x")
    assert (rows[0]["reached"], rows[0]["best figure"]) == ("1/2", "1.25 [0, 2.5]")


def test_each_tasks_row_names_give_their_size():
    assert [row_size(n) for n in ("length 20", "items 6", "20 inputs, 16 outputs", "200 bits")] == [
        ("length", 20, ""),
        ("items", 6, ""),
        ("inputs", 20, ""),
        ("bits", 200, ""),
    ]
    assert row_size("length 20, repeats 10") == ("length", 20, "repeats 10")
    assert [row_size(n) for n in ("length 1-20", "items 2-6", "length 1-10, repeats 1-10")] == [None, None, None]
    assert [training_span(r) for r in ("length 1-20, repeats 1-10", "items 2-6", "20 inputs, 16 outputs")] == [
        (1, 20),
        (2, 6),
        (20, 20),
    ]


def test_without_evaluations_the_report_says_how_to_make_them(sweep):
    found, _ = read_runs([sweep])
    text = markdown("ntm report x", [Path("x")], found, "a caption", None)
    assert "](generalisation.png)" not in text and "`ntm eval checkpoint=RUN`" in text
    assert "](learning_curves.png)" in text and "*a caption*" in text


def test_bad_input_gets_one_line_and_exit_2(ntm, sweep, tmp_path, monkeypatch):
    code, _, err = ntm("report", str(tmp_path / "nowhere"))
    assert code == 2 and "does not exist" in _one_error_line(err)
    (tmp_path / "empty").mkdir()
    code, _, err = ntm("report", str(tmp_path / "empty"))
    assert code == 2 and "holds no training runs" in _one_error_line(err)
    code, _, err = ntm("report", str(sweep), str(sweep))
    assert code == 2 and "--out DIR" in _one_error_line(err)
    code, _, err = ntm("report", str(sweep), "--memory-n", "0")
    assert code == 2 and "--memory-n is a number of memory locations" in _one_error_line(err)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    code, _, err = ntm("report", str(sweep), "--out", str(tmp_path / "out"))
    assert code == 2 and 'pip install -e ".[plot]"' in _one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_help_names_the_command_and_it_has_its_own(ntm):
    code, out, _ = ntm("--help")
    assert code == 0 and "ntm report SWEEP_DIR" in out
    code, out, _ = ntm("report", "--help")
    assert code == 0 and "--out DIR" in out and "learning_curves.png" in out

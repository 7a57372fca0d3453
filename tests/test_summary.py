"""``ntm summarize``: a real sweep (runs done, refused and still going, an evaluation inside a run) read back as
tables and files whose values are those of the runs' own metrics.json."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest
from conftest import main_in_process

from ntm_cli import compose, evaluate
from ntm_cli.summary import number, split_dirname
from ntm_cli.sweep import record_failure

# 2 settings x 2 seeds: no target runs its 6 steps; a target of 1000 bit errors is reached at the first validation.
SWEEP = ["experiment=debug", "task.max_len=3", "model.memory_m=4", "model.memory_n=8", "seed=0,1"]
SWEEP += ["train.target_bit_errors=null,1000"]
SHARED = ["experiment=debug", "task.max_len=3", "model.memory_m=4"]
REFUSED = "model.memory_n=-1 must be greater than 0; model.shift_range=1 needs model.memory_n >= 3"


def _job(sweep: Path, memory_n: int, seed: int, target: str) -> Path:
    """A job folder, named by its overrides as Hydra names it."""
    return sweep / (
        f"experiment=debug,model.memory_m=4,model.memory_n={memory_n},seed={seed},task.max_len=3,"
        f"train.target_bit_errors={target}"
    )


def _unfinished(sweep: Path, seed: int, metrics: str | None) -> Path:
    """A job of the setting train.target_bit_errors=500 that started (its .hydra/) and, with ``metrics``, wrote it."""
    done = _job(sweep, 8, 0, "null")
    job = _job(sweep, 8, seed, "500")
    (job / ".hydra").mkdir(parents=True)
    overrides = (done / ".hydra" / "overrides.yaml").read_text()
    (job / ".hydra" / "overrides.yaml").write_text(overrides.replace("seed=0", f"seed={seed}").replace("null", "500"))
    if metrics is not None:
        (job / "metrics.json").write_text(metrics)
    return job


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """The sweep above, then a job refused for model.memory_n=-1 (its record as a sweep job writes it), three jobs of
    a third setting still going (one not validated yet, one validated, one whose metrics.json is cut short), and an
    ntm eval folder inside a run (with a .hydra/ record of its own)."""
    root = tmp_path_factory.mktemp("summary")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("HYDRA_FULL_ERROR", raising=False)
        assert main_in_process("train", "-m", *SWEEP, "hydra.sweep.dir=sweep") == 0
    sweep = root / "sweep"
    refused = _job(sweep, -1, 0, "null")
    record_failure(refused, {"num": 4, "overrides": refused.name}, REFUSED)
    record = json.loads((_job(sweep, 8, 0, "null") / "metrics.json").read_text())
    _unfinished(sweep, 0, None)
    _unfinished(sweep, 1, json.dumps({**record, "status": "running", "steps": 3}))
    _unfinished(sweep, 2, json.dumps(record)[:40])
    quoted = f"checkpoint='{_job(sweep, 8, 1, 'null')}'"  # a sweep job's name holds = and ,
    evaluation = evaluate(compose("eval", [quoted, "eval.num_sequences=4", "eval.lengths=[2]"])).run_dir
    (evaluation / ".hydra").mkdir()
    (evaluation / ".hydra" / "overrides.yaml").write_text("- checkpoint=x\n")
    return sweep


def _metrics(job: Path) -> dict:
    return json.loads((job / "metrics.json").read_text())


def _summarize(ntm, *args: str) -> tuple[str, dict]:
    code, out, err = ntm("summarize", *args)
    assert code == 0, err
    return out, json.loads((Path(args[0]) / "summary.json").read_text())


def _table(out: str, title: str) -> list[dict[str, str]]:
    """The Markdown table under the heading that starts with ``title``, as one dict per row."""
    lines = out.split(title, 1)[1].split("\n\n", 2)[1].splitlines()
    headers = [cell.strip() for cell in lines[0].strip("|").split(" | ")]
    return [dict(zip(headers, (c.strip() for c in line.strip("|").split(" | ")), strict=True)) for line in lines[2:]]


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ntm summarize: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_each_run_has_its_status_reason_and_the_values_of_its_metrics_json(ntm, sweep):
    out, summary = _summarize(ntm, str(sweep))
    runs = {run["job"]: run for run in summary["runs"]}
    assert len(runs) == 4 + 1 + 3, "the eval folder inside a run is no run"
    for memory_n, seed, target in [(8, s, t) for s in (0, 1) for t in ("null", "1000")]:
        job = _job(sweep, memory_n, seed, target)
        record, run = _metrics(job), runs[job.name]
        assert run["status"] == "done" and run["error"] is None
        assert run["overrides"]["seed"] == str(seed) and run["overrides"]["train.target_bit_errors"] == target
        assert run["figures"]["steps"] == record["steps"] and run["figures"]["wall_seconds"] == record["wall_seconds"]
        for part in ("validation", "best"):
            for name, value in record[part].items():
                if (part, name) != ("validation", "step"):
                    assert run["figures"][f"{part}.{name}"] == value
        solved = {k: v for k, v in record.items() if k.startswith("solved_at_")}
        assert solved == {k: v for k, v in run["figures"].items() if k.startswith("solved_at_")}
        assert bool(solved) == (target == "1000")
    failed = runs[_job(sweep, -1, 0, "null").name]
    assert (failed["status"], failed["error"], failed["figures"]) == ("failed", REFUSED, {})
    assert failed["overrides"]["model.memory_n"] == "-1" and failed["overrides"]["train.target_bit_errors"] == "null"
    running = [run for run in summary["runs"] if run["status"] == "running"]
    assert sorted(run["overrides"]["seed"] for run in running) == ["0", "1", "2"]
    assert [run["figures"].get("steps") for run in running] == [None, 3, None]

    assert all(f" {override}" in out.splitlines()[0] for override in SHARED), out
    rows = {row["job"]: row for row in _table(out, "## Runs")}
    assert "experiment" not in next(iter(rows.values())), "an override every run shares is no column"
    failed = rows[_job(sweep, -1, 0, "null").name]
    assert failed["status"] == f"failed: {REFUSED}" and failed["steps"] == "-" and failed["model.memory_n"] == "-1"
    done = rows[_job(sweep, 8, 1, "1000").name]
    record = _metrics(_job(sweep, 8, 1, "1000"))
    assert done["status"] == "done" and done["steps"] == str(record["steps"])
    assert done["solved_at_step"] == str(record["solved_at_step"])
    assert done["best.cost_bits_per_sequence"] == number(record["best"]["cost_bits_per_sequence"])


def test_runs_that_differ_only_by_seed_form_a_setting_with_its_median_min_and_max(ntm, sweep):
    out, summary = _summarize(ntm, str(sweep))
    settings = {
        (s["overrides"]["model.memory_n"], s["overrides"]["train.target_bit_errors"]): s for s in summary["settings"]
    }
    assert set(settings) == {("8", "null"), ("8", "1000"), ("-1", "null"), ("8", "500")}
    for target, solved in (("null", 0), ("1000", 2)):
        setting = settings[("8", target)]
        records = [_metrics(_job(sweep, 8, seed, target)) for seed in (0, 1)]
        assert (setting["runs"], setting["solved"]) == (2, solved)
        for name in ("steps", "solved_at_step"):
            values = [r[name] for r in records if name in r]
            assert setting["figures"].get(name) == (
                {"median": statistics.median(values), "min": min(values), "max": max(values), "count": 2}
                if values
                else None
            )
        costs = [r["validation"]["cost_bits_per_sequence"] for r in records]
        assert setting["figures"]["validation.cost_bits_per_sequence"] == pytest.approx(
            {"median": statistics.median(costs), "min": min(costs), "max": max(costs), "count": 2}
        )
    refused = settings[("-1", "null")]
    assert (refused["runs"], refused["solved"], refused["figures"]) == (1, 0, {})
    going = settings[("8", "500")]
    assert (going["runs"], going["solved"], going["figures"]["steps"]["count"]) == (3, 0, 1)

    rows = _table(out, "## Settings over seeds")
    assert "seed" not in rows[0] and len(rows) == 4
    solved_row = next(r for r in rows if r["train.target_bit_errors"] == "1000" and r["model.memory_n"] == "8")
    assert (solved_row["runs"], solved_row["solved"]) == ("2", "2/2")


def test_summary_csv_holds_the_values_of_summary_json(ntm, sweep):
    _, summary = _summarize(ntm, str(sweep))
    with (sweep / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [row["job"] for row in rows] == [run["job"] for run in summary["runs"]]
    keys = {"job", "status", "error", *(key for run in summary["runs"] for key in run["overrides"])}
    for row, run in zip(rows, summary["runs"], strict=True):
        assert (row["status"], row["error"] or None) == (run["status"], run["error"])
        assert all(row[key] == value for key, value in run["overrides"].items())
        assert {k: float(v) for k, v in row.items() if k not in keys and v} == run["figures"]


@pytest.mark.parametrize("reverse", [False, True], ids=["ascending", "descending"])
def test_sort_orders_runs_and_settings_by_a_column_with_missing_values_last(ntm, sweep, reverse):
    name = "validation.cost_bits_per_sequence"
    out, summary = _summarize(ntm, str(sweep), "--sort", name, *(["--reverse"] if reverse else []))
    values = [run["figures"].get(name) for run in summary["runs"]]
    having = [v for v in values if v is not None]
    assert len(having) == 5 and values[: len(having)] == sorted(having, reverse=reverse)
    assert all(v is None for v in values[len(having) :])
    medians = [s["figures"][name]["median"] for s in summary["settings"] if name in s["figures"]]
    assert len(medians) == 3 and medians == sorted(medians, reverse=reverse)
    assert [row["job"] for row in _table(out, "## Runs")] == [run["job"] for run in summary["runs"]]


def test_an_unknown_sort_name_or_a_path_without_runs_gets_one_line_and_exit_2(ntm, sweep, tmp_path):
    code, _, err = ntm("summarize", str(sweep), "--sort", "accuracy")
    line = _one_error_line(err)
    assert code == 2 and "--sort accuracy" in line and "validation.bit_errors_per_sequence" in line
    code, _, err = ntm("summarize", str(tmp_path / "nowhere"))
    assert code == 2 and "does not exist" in _one_error_line(err)
    (tmp_path / "empty").mkdir()
    code, _, err = ntm("summarize", str(tmp_path / "empty"))
    assert code == 2 and "holds no training runs" in _one_error_line(err)
    code, _, err = ntm("summarize")
    assert code == 2 and "PATH" in _one_error_line(err)


def test_a_single_run_directory_is_summarized_into_itself(ntm, sweep):
    job = _job(sweep, 8, 0, "1000")
    out, summary = _summarize(ntm, str(job))
    assert [run["job"] for run in summary["runs"]] == ["."]
    assert summary["runs"][0]["figures"]["steps"] == _metrics(job)["steps"]
    assert summary["settings"][0]["solved"] == 1 and (job / "summary.csv").is_file()
    assert "model.memory_n=8" in out.splitlines()[0] and "seed=0" in out.splitlines()[0]


def test_help_names_the_command_and_it_has_its_own(ntm):
    code, out, _ = ntm("--help")
    assert code == 0 and "ntm summarize SWEEP_DIR" in out
    code, out, _ = ntm("summarize", "--help")
    assert code == 0 and "--sort NAME" in out and "summary.csv" in out


def test_a_failed_jobs_override_dirname_splits_back_into_its_overrides():
    text = "a=[1,2],b='x,y',c=d\\,e,f=1"
    assert split_dirname(text) == ["a=[1,2]", "b='x,y'", "c=d\\,e", "f=1"]


def test_numbers_have_four_significant_digits_and_whole_ones_no_point():
    assert [number(v) for v in (17.288267, 3.0, 0.095, 12345.6, 200, 1.5e-5)] == [
        "17.29",
        "3",
        "0.095",
        "12346",
        "200",
        "1.5e-05",
    ]

"""The ``ntm`` command: exit statuses, one-line errors, help, completion, sweeps and presets.

Most tests call ``cli.main`` in this process (the same code path as the console
script, minus the process); a few run the real command where only a process
shows the behaviour.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import SMALL, ntm_executable, run_ntm
from omegaconf import OmegaConf

DEBUG = ["experiment=debug", *SMALL]


def one_error_line(err: str, command: str = "train") -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ntm {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_the_real_command_trains_and_evaluates_a_task_from_the_working_directory(tmp_path):
    """The console script end to end, on docs/extending.md's task: its folder is first on the script's sys.path,
    and a module beside the user must still import. Then `ntm eval` of the run directory, writing beside it."""
    from test_plugins import user_files

    user_files(tmp_path)
    args = ["task=custom", "task._target_=my_tasks.Parity", "experiment=debug", "hydra.run.dir=run"]
    proc = run_ntm("train", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"evaluate it with: ntm eval checkpoint={tmp_path / 'run'}" in proc.stdout
    assert sorted(p.name for p in (tmp_path / "run" / ".hydra").iterdir()) == [
        "config.yaml",
        "hydra.yaml",
        "overrides.yaml",
    ]
    proc = run_ntm("eval", "checkpoint=run", "eval.lengths=[9]", "eval.num_sequences=4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (ev,) = (tmp_path / "run" / "eval").iterdir()
    result = json.loads((ev / "eval.json").read_text())
    assert result["complete"] and list(result["rows"]) == ["bits 6", "9 bits"]
    assert result["checkpoint"] == str((tmp_path / "run" / "checkpoints" / "best.pt").resolve())


def test_the_readmes_python_example_runs_as_written(tmp_path):
    """The README's example: compose, train, evaluate, in one Python process, with no Hydra runtime and no exit."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    check = "\nassert result.status == 'done' and result.metrics['steps'] == 6\nprint('trained', result.run_dir)\n"
    proc = subprocess.run([sys.executable, "-c", example + check], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "trained runs/try" in proc.stdout
    run = tmp_path / "runs" / "try"
    assert (run / "metrics.json").is_file() and list((run / "eval").iterdir())


def test_version(ntm):
    code, out, _ = ntm("--version")
    assert code == 0 and out.startswith("ntm ") and f"torch {torch.__version__}" in out


def test_unknown_subcommand(ntm):
    code, _, err = ntm("fit")
    assert code == 2 and "unknown command 'fit'" in err


def test_help_describes_every_key_and_hides_ntms_own_groups(ntm):
    code, out, _ = ntm("train", "--help")
    assert code == 0
    assert "  task        associative_recall, copy*, custom, ngram, priority_sort, repeat_copy" in out
    assert "  model       custom, dnc, lstm, ntm*" in out
    assert "schema" not in out and "tuned" not in out
    assert "train.steps=10000" in out and "optimizer steps to train in all" in out
    assert "task.max_len=20" in out and "longest sequence to copy" in out
    for line in out.split("Keys (KEY=VALUE)")[1].splitlines()[1:]:
        if line.startswith("  "):
            assert len(line.split("  ", 2)[-1].strip()) > 3, f"a key without a description: {line}"
        else:
            break
    code, out, _ = ntm("train", "task=ngram", "--help")
    assert "copy," in out and "ngram*" in out and "optimizer.lr=0.003" in out and "task.length=200" in out
    code, out, _ = ntm("eval", "--help")
    assert code == 0 and "checkpoint=PATH" in out and "eval.lengths=null" in out
    code, out, _ = ntm("--help")
    assert code == 0 and "ntm train resume=RUN_DIR" in out


def test_cfg_job_shows_the_config_and_writes_nothing(ntm, tmp_path):
    code, out, _ = ntm("train", "controller=feedforward", "--cfg", "job")
    assert code == 0 and OmegaConf.create(out).controller.name == "feedforward"
    assert not (tmp_path / "outputs").exists()


def test_shell_completion_installs_and_completes(ntm, monkeypatch):
    code, out, _ = ntm("-sc", "install=bash")
    assert code == 0 and "complete -o nospace" in out and "hydra_bash_completion" in out

    def complete(line):
        monkeypatch.setenv("COMP_LINE", line)
        monkeypatch.setenv("COMP_POINT", str(len(line)))
        return ntm("-sc", "query=bash")[1].split()

    assert complete("ntm tr") == ["train"]
    assert "controller=feedforward" in complete("ntm train controller=f")
    assert "task=copy" in complete("ntm train task=")


BAD_TRAIN_INPUTS = [
    (["task=nope"], "unknown task 'nope'; choose task=OPTION with OPTION one of: associative_recall, copy, custom"),
    (["controller=gru"], "unknown controller 'gru'"),
    (["model=transformer"], "unknown model 'transformer'"),
    (["optimizer=sgd"], "unknown optimizer 'sgd'"),
    (["device=tpu"], "unknown device 'tpu'"),
    (["hydra/launcher=jobllib"], "unknown hydra/launcher 'jobllib'; choose hydra/launcher=OPTION with OPTION one of:"),
    (["trian.steps=5"], "unknown key 'trian.steps'"),
    (["+foo=1"], "unknown key 'foo'"),
    (["train.steps=abc"], "train.steps"),
    (["train.steps=1.5"], "train.steps"),
    (["eval.lengths=abc"], "give a list, such as eval.lengths=[10,20]"),
    (["train.batch_size=0"], "train.batch_size=0 must be greater than 0"),
    (["model.memory_n=-4"], "model.memory_n=-4 must be greater than 0"),
    (["task.min_len=5", "task.max_len=2"], "set task.min_len <= task.max_len"),
    # 6 vectors of 8 bits cannot fit 8 x 4 numbers of memory.
    (["task.max_len=6"], "is 32 numbers, too few to hold up to 6 vectors of 8 values (task.max_len=6)"),
    (["model=dnc", "model.memory_n=8", "model.memory_m=4", "task.max_len=6"], "use model.memory_n=12 or more"),
    (["train.curriculum.step=0"], "train.curriculum.step=0.0 must be greater than 0 and at most 1"),
    (["model=lstm", "model.hidden_size=8", "controller=feedforward"], "controller=feedforward does not apply"),
    (["experiment=graves2014/copy", "task=ngram"], "experiment=graves2014/copy is made for task=copy, not task=ngram"),
    (["task=custom"], "task=custom needs task._target_=MODULE.CLASS"),
    (["task=custom", "task._target_=no_such_module.Task"], "no module named 'no_such_module'"),
    (["objective=validation.accuracy"], "objective=validation.accuracy is not a figure of metrics.json"),
    (["model.memory_n=100000000"], "needs at least"),
]
if not torch.cuda.is_available():
    BAD_TRAIN_INPUTS.append((["device=cuda"], "use device=cpu or device=auto"))


@pytest.mark.parametrize(("args", "words"), BAD_TRAIN_INPUTS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_bad_train_input_gets_one_clear_line_and_leaves_nothing(ntm, tmp_path, args, words):
    groups = {a.split("=")[0] for a in args}  # a group chosen here drops its DEBUG keys
    debug = [a for a in DEBUG if a.split("=")[0] not in groups and a.split(".")[0] not in groups]
    code, _, err = ntm("train", *debug, *args, "hydra.run.dir=run")
    assert code == 2
    assert words in one_error_line(err)
    assert not (tmp_path / "run").exists(), "a refused run leaves no run directory behind"


def test_whole_numbers_written_as_floats_are_taken(ntm, tmp_path):
    code, _, err = ntm("train", *DEBUG, "train.steps=6e0", "train.batch_size=4.0", "hydra.run.dir=run")
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] == 6


def test_a_task_that_may_not_fit_the_memory_gets_a_warning_and_runs(ntm, tmp_path):
    """4 vectors in 3 locations of 16: enough numbers, but fewer locations than vectors."""
    code, out, err = ntm(
        "train", *DEBUG, "task.max_len=4", "model.memory_n=3", "model.memory_m=16", "hydra.run.dir=run"
    )
    assert code == 0, err
    warning = "model.memory_n=3 locations for up to 4 vectors of 8 values (task.max_len=4): likely to fail"
    assert warning in out + err and warning in (tmp_path / "run" / "train.log").read_text()


def test_a_refused_run_changes_nothing_in_an_existing_run(ntm, trained_run):
    """hydra.run.dir=<a run>: refused before anything of that run (its .hydra record, its log) is touched."""
    (trained_run / ".hydra").mkdir(exist_ok=True)
    (trained_run / ".hydra" / "config.yaml").write_text("the run's own record\n")
    before = {p: p.read_bytes() for p in trained_run.rglob("*") if p.is_file()}
    code, _, err = ntm("train", *DEBUG, "seed=5", f"hydra.run.dir={trained_run}")
    assert code == 2 and "holds a run of another config (seed: 0 there, 5 here)" in one_error_line(err)
    assert {p: p.read_bytes() for p in trained_run.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(
    "args",
    [
        ["train", *DEBUG, "hydra.run.dir=blocker/run"],
        ["train", "-m", *DEBUG, "seed=0,1", "hydra.sweep.dir=blocker/sweep"],
        ["eval", "checkpoint=CKPT", "hydra.run.dir=blocker/ev"],
    ],
    ids=["train", "sweep", "eval"],
)
def test_an_output_folder_that_cannot_be_written_gets_one_line(ntm, trained_run, tmp_path, args):
    """A run directory under a file (as root, a read-only folder would still be writable)."""
    (tmp_path / "blocker").write_text("a file, not a folder\n")
    code, _, err = ntm(*[a.replace("CKPT", str(trained_run)) for a in args])
    line = one_error_line(err, args[0])
    assert code == 2 and "Not a directory" in line and "give an output folder that can be written" in line
    assert (tmp_path / "blocker").read_text() == "a file, not a folder\n"


def test_multirun_runs_each_job_in_its_own_folder_named_by_its_overrides(ntm, tmp_path):
    """... and ends with the sweep's summary, printed and written into the sweep's folder."""
    code, out, err = ntm("train", "-m", "experiment=debug", "task.max_len=3", "seed=0,1", "hydra.sweep.dir=sweep")
    assert code == 0, err
    for seed in (0, 1):
        job = tmp_path / "sweep" / f"experiment=debug,seed={seed},task.max_len=3"
        assert json.loads((job / "metrics.json").read_text())["steps"] == 6
        assert f"seed={seed}" in (job / ".hydra" / "overrides.yaml").read_text()
    assert "## Runs (2)" in out and "## Settings over seeds (1)" in out
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    assert [r["status"] for r in summary["runs"]] == ["done", "done"]


def test_a_long_override_list_names_job_folders_by_number(ntm, tmp_path):
    long = ["train.checkpoint_every=3", "train.log_every=2", "train.eval_every=3", "train.keep_checkpoints=2"]
    code, _, err = ntm("train", "-m", *DEBUG, *long, "model=ntm,dnc", "hydra.sweep.dir=sweep")
    assert code == 0, err
    jobs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert [j[:5] for j in jobs] == ["job0-", "job1-"]
    models = [
        torch.load(tmp_path / "sweep" / j / "checkpoints/last.pt", weights_only=True)["config"]["model"]["name"]
        for j in jobs
    ]
    assert models == ["ntm", "dnc"]


def test_a_failing_sweep_job_does_not_stop_the_others(ntm, tmp_path):
    debug = [a for a in DEBUG if not a.startswith("model.memory_n")]
    code, _, err = ntm("train", "-m", *debug, "model.memory_n=0,8", "hydra.sweep.dir=sweep")
    assert code == 1 and "Traceback" not in err
    assert "1 sweep job(s) failed; the others ran:" in err
    assert "job 0 (" in err and "model.memory_n=0 must be greater than 0" in err
    (bad, good) = sorted(p for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert json.loads((bad / "metrics.json").read_text())["status"] == "failed"
    assert (good / "checkpoints" / "last.pt").exists()
    assert json.loads((good / "metrics.json").read_text())["status"] == "done"


def test_the_sweep_job_returns_the_runs_objective(tmp_path, monkeypatch):
    """What a sweeper (Optuna) optimises: the figure `objective` names, returned by the Hydra job."""
    from hydra.core.utils import JobReturn

    from ntm_cli import cli

    returns: list[JobReturn] = []
    real = cli._job

    def spy(run):
        job = real(run)
        return lambda cfg: returns.append(job(cfg)) or returns[-1]

    monkeypatch.setattr(cli, "_job", spy)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", *DEBUG, "objective=best.cost_bits_per_sequence", "hydra.run.dir=run"]) == 0
    best = json.loads((tmp_path / "run" / "metrics.json").read_text())["best"]["cost_bits_per_sequence"]
    assert returns == [pytest.approx(best)]


def test_task_configs_say_what_they_change_and_overrides_and_presets_beat_them(ntm):
    def job(*args):
        code, out, err = ntm("train", *args, "--cfg", "job")
        assert code == 0, err
        return OmegaConf.create(out)

    copy, repeat = job("task=copy"), job("task=repeat_copy")
    assert copy.train.batch_size == 16 and copy.optimizer.lr == 1e-2
    assert copy.train.compile is None and repeat.train.compile is None  # ntm decides at the start of a run
    assert repeat.train.curriculum.enabled and repeat.optimizer.lr == 5e-3
    assert repeat.train.max_seconds == 1800 and not copy.train.curriculum.enabled
    priority = job("task=priority_sort")
    assert repeat.train.compile_steps == 1 and priority.train.compile_steps == 4
    assert priority.train.max_seconds == 5400  # the one task with a 90-minute budget
    assert job("task=repeat_copy", "train.batch_size=4").train.batch_size == 4
    preset = job("experiment=graves2014/repeat_copy")
    assert preset.train.batch_size == 1 and preset.optimizer.lr == 1e-4 and preset.train.max_seconds is None
    assert not preset.train.curriculum.enabled
    # tuned/TASK_ntm.yaml applies to the NTM only, and not under the paper's presets.
    for task in ("priority_sort", "associative_recall", "ngram"):
        assert job(f"task={task}").model.memory_init == "learned"
        assert "memory_init" not in job(f"task={task}", "model=dnc").model
        assert job(f"experiment=graves2014/{task}").model.memory_init == "constant"
    assert job("task=copy").model.memory_init == "constant"
    # generalise/copy: copy's defaults, a 32-location memory, trained 10 minutes past the solve.
    general = job("experiment=generalise/copy")
    assert (general.task.name, general.model.memory_n, general.optimizer.lr) == ("copy", 32, copy.optimizer.lr)
    assert general.train.target_bit_errors is None and general.train.max_seconds == 600


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("copy", ("copy", "ntm", "lstm", 1, 100, 1, 1e-4)),
        ("associative_recall_ff", ("associative_recall", "ntm", "feedforward", 4, 256, 1, 1e-4)),
        ("priority_sort", ("priority_sort", "ntm", "lstm", 5, 100, 2, 3e-5)),
    ],
)
def test_graves2014_presets_pin_the_papers_settings(ntm, preset, expected):
    code, out, _ = ntm("train", f"experiment=graves2014/{preset}", "--cfg", "job")
    cfg = OmegaConf.create(out)
    assert cfg.optimizer.name == "rmsprop" and cfg.optimizer.momentum == 0.9 and cfg.train.clip_grad_value == 10.0
    assert cfg.model.memory_n == 128 and cfg.model.memory_m == 20 and cfg.train.batch_size == 1
    got = (cfg.task.name, cfg.model.name, cfg.controller.name, cfg.model.read_heads, cfg.controller.hidden_size)
    assert got + (cfg.controller.layers, cfg.optimizer.lr) == expected and cfg.model.write_heads == cfg.model.read_heads


def test_graves2014_lstm_presets_pin_the_papers_baseline(ntm):
    code, out, _ = ntm("train", "experiment=graves2014/repeat_copy_lstm", "--cfg", "job")
    cfg = OmegaConf.create(out)
    assert (cfg.task.name, cfg.model.name, cfg.model.hidden_size, cfg.model.layers) == ("repeat_copy", "lstm", 512, 3)
    assert (cfg.optimizer.name, cfg.optimizer.lr, cfg.train.batch_size) == ("rmsprop", 3e-5, 1)


def _incompatible_checkpoint(trained_run: Path, tmp_path: Path) -> Path:
    """A real checkpoint whose config no longer matches its weights (as if from another model version)."""
    data = torch.load(trained_run / "checkpoints" / "last.pt", weights_only=True)
    data["config"]["controller"]["hidden_size"] = 12
    path = tmp_path / "other" / "checkpoints" / "last.pt"
    path.parent.mkdir(parents=True)
    torch.save(data, path)
    return path


def test_a_checkpoint_from_an_incompatible_model_gets_one_line(ntm, trained_run, tmp_path):
    ckpt = _incompatible_checkpoint(trained_run, tmp_path)
    before = ckpt.read_bytes()
    for args in (
        ["eval", f"checkpoint={ckpt}", "hydra.run.dir=ev"],
        ["train", f"resume={ckpt.parent.parent}", "train.steps=9"],
    ):
        code, _, err = ntm(*args)
        assert code == 2 and "does not fit the model its config describes" in one_error_line(err, args[0])
    assert ckpt.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "other").rglob("*")) == ["checkpoints", "last.pt"]
    assert not (tmp_path / "ev").exists()


def test_bad_eval_input_gets_one_clear_line(ntm, trained_run, tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(256))
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((trained_run / "checkpoints" / "best.pt").read_bytes()[:1000])
    plain = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(2)}, plain)
    learned = tmp_path / "learned"
    from conftest import run

    run(tmp_path, "model.memory_init=learned", name="learned")
    ckpt = trained_run / "checkpoints" / "best.pt"
    cases = [
        ([], "checkpoint is required"),
        (["checkpoint=missing.pt"], "does not exist"),
        ([f"checkpoint={garbage}"], "cannot be loaded safely"),
        ([f"checkpoint={empty}"], "cannot be loaded safely"),
        ([f"checkpoint={truncated}"], "cannot be loaded safely"),
        ([f"checkpoint={plain}"], "is not an ntm checkpoint"),
        ([f"checkpoint={ckpt}", "train.steps=3"], "train.steps cannot be set in ntm eval"),
        ([f"checkpoint={ckpt}", "task.max_len=50"], "evaluate other sizes with eval.lengths=[...]"),
        ([f"checkpoint={ckpt}", "eval.lengths=[0]"], "every value must be greater than 0"),
        ([f"checkpoint={ckpt}", "eval.lengths=abc"], "give a list, such as eval.lengths=[10,20]"),
        ([f"checkpoint={learned}", "eval.memory_n=64"], "model.memory_init=learned has one learned word per location"),
    ]
    before = ckpt.read_bytes()
    for args, words in cases:
        code, _, err = ntm("eval", *args, "hydra.run.dir=ev")
        line = one_error_line(err, "eval")
        assert code == 2 and words in line, (args, line)
        assert "weights_only" not in line
    assert ckpt.read_bytes() == before and not (tmp_path / "ev").exists()


class _RunsCodeWhenUnpickled:
    """Unpickling this calls os.system: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused_and_never_runs_it(ntm, tmp_path):
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "ntm-checkpoint", "version": 1, "payload": _RunsCodeWhenUnpickled(marker)}, evil)
    for command in (["eval", f"checkpoint={evil}", "hydra.run.dir=ev"], ["train", f"resume={evil}"]):
        code, _, err = ntm(*command)
        assert code == 2 and "cannot be loaded safely" in one_error_line(err, command[0])
    assert not marker.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["evil.pt"]
    # The file really is malicious: an unsafe load runs its code.
    torch.load(evil, weights_only=False)
    assert marker.exists()


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    """`ntm train --help | head -1`: the closed pipe ends ntm quietly."""
    proc = subprocess.Popen(
        [ntm_executable(), "train", "--help"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # before ntm has started up: its first write meets a closed pipe
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_eval_takes_a_sweep_jobs_folder_whose_name_holds_equals_signs_and_commas(ntm, tmp_path):
    from conftest import run

    job = run(tmp_path, name="optimizer.lr=0.01,seed=0").run_dir
    code, _, err = ntm("eval", f"checkpoint={job}", "eval.lengths=[2]", "eval.num_sequences=4", "hydra.run.dir=ev")
    assert code == 0, err
    assert json.loads((tmp_path / "ev" / "eval.json").read_text())["checkpoint"].startswith(str(job))

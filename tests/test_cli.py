"""End-to-end: the real ``ntm`` command, run as a subprocess in a temporary directory."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from conftest import TINY, ntm_executable, run_ntm, tb_scalars
from omegaconf import OmegaConf


def test_train_writes_a_complete_run_directory(trained_run):
    """.hydra, last/best/periodic checkpoints, TensorBoard events, the log and metrics.json."""
    assert (trained_run / ".hydra" / "config.yaml").is_file()
    assert (trained_run / "train.log").is_file()
    names = sorted(p.name for p in (trained_run / "checkpoints").iterdir())
    assert names == ["best.pt", "last.pt", "step_0000003.pt", "step_0000006.pt"]
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["steps"] == 6 and metrics["sequences"] == 24
    assert metrics["wall_seconds"] > 0 and metrics["parameters"] > 0
    assert set(metrics["validation"]) == {"step", "cost_bits_per_sequence", "bit_errors_per_sequence"}
    assert "solved_at_step" not in metrics


def test_tensorboard_gets_every_scalar(trained_run):
    scalars = tb_scalars(trained_run)
    for tag in (
        "train/loss",
        "train/cost_bits_per_sequence",
        "train/bit_errors_per_sequence",
        "train/grad_norm",
        "train/lr",
        "train/sequences_per_second",
    ):
        assert [step for step, _ in scalars[tag]] == [2, 4, 6], tag
    assert [step for step, _ in scalars["val/bit_errors_per_sequence"]] == [3, 6]
    assert [step for step, _ in scalars["val/cost_bits_per_sequence"]] == [3, 6]


def test_checkpoint_is_plain_data_that_loads_with_weights_only(trained_run):
    ckpt = torch.load(trained_run / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["format"] == "ntm-checkpoint" and ckpt["step"] == 6 and ckpt["sequences"] == 24
    assert isinstance(ckpt["config"], dict) and ckpt["config"]["model"]["memory_n"] == 8
    assert set(ckpt["rng"]) >= {"data", "torch", "cuda"}
    assert ckpt["optimizer"]["state"], "the optimizer state is saved"
    assert any(k.startswith("controller.") for k in ckpt["model"])


def test_target_bit_errors_stops_the_run_and_records_when(tmp_path):
    """A target every model meets stops at the first validation, recording step, sequences and seconds."""
    args = [a for a in TINY if not a.startswith("train.target_bit_errors")]
    proc = run_ntm("train", *args, "train.target_bit_errors=1000", "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["steps"] == 3
    assert metrics["solved_at_step"] == 3 and metrics["solved_at_sequences"] == 12
    assert metrics["solved_at_seconds"] > 0


def test_the_same_seed_trains_the_same_model(tmp_path):
    """Every random draw comes from the seed: two runs give identical parameters and metrics."""
    runs = []
    for name in ("a", "b"):
        proc = run_ntm("train", *TINY, "seed=3", f"hydra.run.dir={name}", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        runs.append(torch.load(tmp_path / name / "checkpoints" / "last.pt", weights_only=True))
    a, b = runs
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["best"] == b["best"]


def _compiled_training_follows_the_eager_run(tmp_path, compile_steps: int) -> None:
    """train.compile=true compiles the time step and trains to the same parameters, up to rounding."""
    runs = []
    for name, compile_ in (("eager", "false"), ("compiled", "true")):
        args = [*TINY, "seed=2", f"train.compile={compile_}", f"train.compile_steps={compile_steps}"]
        proc = run_ntm("train", *args, f"hydra.run.dir={name}", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        log = (tmp_path / name / "train.log").read_text()
        assert (f"compiled the time step (train.compile=true, {compile_steps} time step" in log) == (compile_ == "true")
        runs.append(torch.load(tmp_path / name / "checkpoints" / "last.pt", weights_only=True)["model"])
    eager, compiled = runs
    assert eager.keys() == compiled.keys()
    for k in eager:
        torch.testing.assert_close(compiled[k], eager[k], rtol=1e-4, atol=1e-5, msg=k)


def test_compiled_training_follows_the_eager_run(tmp_path):
    _compiled_training_follows_the_eager_run(tmp_path, 1)


@pytest.mark.slow
def test_training_compiled_three_steps_per_call_follows_the_eager_run(tmp_path):
    """train.compile_steps=3: one graph of three time steps (a longer compile), the same training."""
    _compiled_training_follows_the_eager_run(tmp_path, 3)


def test_eval_reports_each_length_and_writes_eval_json(trained_run, tmp_path):
    ckpt = trained_run / "checkpoints" / "best.pt"
    proc = run_ntm(
        "eval", f"checkpoint={ckpt}", "eval.lengths=[2,5]", "eval.num_sequences=6", "hydra.run.dir=ev", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "ev" / "eval.json").read_text())
    assert list(result["rows"]) == ["length 1-3", "length 2", "length 5"]
    for row in result["rows"].values():
        assert set(row) == {"bit_errors_per_sequence", "cost_bits_per_sequence"}
        assert 0 <= row["bit_errors_per_sequence"] <= 5 * 8
    assert "bit errors/seq" in proc.stdout and "\nlength 5  " in proc.stdout


def test_eval_defaults_to_the_papers_copy_lengths(trained_run, tmp_path):
    ckpt = trained_run / "checkpoints" / "last.pt"
    proc = run_ntm("eval", f"checkpoint={ckpt}", "eval.num_sequences=2", "hydra.run.dir=ev", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "ev" / "eval.json").read_text())
    assert list(result["rows"]) == ["length 1-3"] + [f"length {n}" for n in (10, 20, 30, 50, 120)]


def test_multirun_runs_each_job_in_its_own_folder(tmp_path):
    """Jobs are named by their overrides, or job<N>-<hash> when those would make too long a name."""
    proc = run_ntm("train", "-m", *TINY, "seed=0,1", "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for seed in (0, 1):
        (job,) = (tmp_path / "sweep").glob(f"job{seed}-*")  # TINY's overrides are too long for a name
        assert f"seed={seed}" in (job / ".hydra" / "overrides.yaml").read_text()
        metrics = json.loads((job / "metrics.json").read_text())
        assert metrics["steps"] == 6


def test_a_sweep_over_models_trains_each_one(tmp_path):
    proc = run_ntm("train", "-m", *TINY, "model=ntm,dnc", "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trained = sorted(
        torch.load(job / "checkpoints" / "last.pt", weights_only=True)["config"]["model"]["name"]
        for job in (tmp_path / "sweep").iterdir()
        if job.is_dir()
    )
    assert trained == ["dnc", "ntm"]


def test_a_failing_sweep_job_does_not_stop_the_others(tmp_path):
    tiny = [a for a in TINY if not a.startswith("model.memory_n")]
    proc = run_ntm("train", "-m", *tiny, "model.memory_n=0,8", "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "1 sweep job(s) failed" in proc.stderr
    assert "job 0 (" in proc.stderr and "model.memory_n=0 must be greater than 0" in proc.stderr
    (good,) = (tmp_path / "sweep").glob("job1-*")
    assert (good / "checkpoints" / "last.pt").exists() and (good / "metrics.json").exists()


def test_help_and_cfg_job_show_the_config(tmp_path):
    proc = run_ntm("train", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "controller: feedforward, lstm" in proc.stdout
    assert "task: associative_recall, copy, ngram, priority_sort, repeat_copy" in proc.stdout
    proc = run_ntm("train", "controller=feedforward", "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0 and "name: feedforward" in proc.stdout
    proc = run_ntm("eval", "--help", cwd=tmp_path)
    assert proc.returncode == 0 and "checkpoint=PATH" in proc.stdout
    assert not (tmp_path / "outputs").exists(), "--help and --cfg write nothing"


def test_shell_completion_completes_groups_and_subcommands(tmp_path):
    def complete(line):
        env = {"COMP_LINE": line, "COMP_POINT": str(len(line))}
        return run_ntm("-sc", "query=bash", cwd=tmp_path, env=env).stdout.split()

    assert complete("ntm tr") == ["train"]
    assert "controller=feedforward" in complete("ntm train controller=f")
    assert "task=copy" in complete("ntm train task=")
    assert "complete -o nospace" in run_ntm("train", "-sc", "install=bash", cwd=tmp_path).stdout


BAD_TRAIN_INPUTS = [
    (["task=nope"], "unknown task 'nope'"),
    (["controller=gru"], "unknown controller 'gru'"),
    (["model=transformer"], "unknown model 'transformer'"),
    (["optimizer=sgd"], "unknown optimizer 'sgd'"),
    (["device=tpu"], "unknown device 'tpu'"),
    (["trian.steps=5"], "unknown key 'trian.steps'"),
    (["+foo=1"], "unknown key 'foo'"),
    (["train.steps=abc"], "train.steps"),
    (["train.batch_size=0"], "train.batch_size=0 must be greater than 0"),
    (["model.memory_n=-4"], "model.memory_n=-4 must be greater than 0"),
    (["task.min_len=5", "task.max_len=2"], "set task.min_len <= task.max_len"),
    # 6 vectors of 8 bits cannot fit 8 x 4 numbers of memory.
    (["task.max_len=6"], "is 32 numbers, too few to hold up to 6 vectors of 8 values (task.max_len=6)"),
    (["model=dnc", "task.max_len=6"], "use model.memory_n=12 or more"),
    (["train.curriculum.step=0"], "train.curriculum.step=0.0 must be greater than 0 and at most 1"),
]
if not torch.cuda.is_available():
    BAD_TRAIN_INPUTS.append((["device=cuda"], "use device=cpu or device=auto"))


@pytest.mark.parametrize(("args", "words"), BAD_TRAIN_INPUTS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_bad_train_input_gets_one_clear_line(tmp_path, args, words):
    proc = run_ntm("train", *TINY, *args, "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ntm train: error: "), proc.stderr
    assert words in lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "run").exists(), "a refused run leaves no run directory behind"


def test_a_task_that_may_not_fit_the_memory_gets_a_warning_and_runs(tmp_path):
    """4 vectors in 3 locations of 16: enough numbers, but fewer locations than vectors."""
    too_few = ["task.max_len=4", "model.memory_n=3", "model.memory_m=16"]
    proc = run_ntm("train", *TINY, *too_few, "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warning = "model.memory_n=3 locations for up to 4 vectors of 8 values (task.max_len=4): likely to fail"
    assert warning in proc.stdout + proc.stderr
    assert warning in (tmp_path / "run" / "train.log").read_text()
    quiet = run_ntm("train", *TINY, "hydra.run.dir=run2", cwd=tmp_path)
    assert "likely to fail" not in quiet.stdout + quiet.stderr


def test_eval_warns_of_rows_beyond_the_memory(trained_run, tmp_path):
    ckpt = trained_run / "checkpoints" / "best.pt"
    proc = run_ntm("eval", f"checkpoint={ckpt}", "eval.lengths=[4,20]", "eval.num_sequences=2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "length 20: up to 20 vectors to hold and 8 memory locations; expect errors" in out
    assert "length 4:" not in out
    proc = run_ntm(
        "eval", f"checkpoint={ckpt}", "eval.lengths=[20]", "eval.memory_n=32", "eval.num_sequences=2", cwd=tmp_path
    )
    assert proc.returncode == 0 and "expect errors" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["train", *TINY, "hydra.run.dir=blocker/run"],
        ["train", "-m", *TINY, "seed=0,1", "hydra.sweep.dir=blocker/sweep"],
        ["eval", "checkpoint=CKPT", "hydra.run.dir=blocker/ev"],
    ],
    ids=["train", "sweep", "eval"],
)
def test_an_output_folder_that_cannot_be_written_gets_one_line(trained_run, tmp_path, args):
    """A run directory under a file (as root, a read-only folder would still be writable)."""
    (tmp_path / "blocker").write_text("a file, not a folder\n")
    ckpt = trained_run / "checkpoints" / "best.pt"
    proc = run_ntm(*[a.replace("CKPT", str(ckpt)) for a in args], cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Not a directory" in lines[0] and "give an output folder that can be written" in lines[0]
    assert (tmp_path / "blocker").read_text() == "a file, not a folder\n"


def _incompatible_checkpoint(trained_run: Path, tmp_path: Path) -> Path:
    """A real checkpoint whose config no longer matches its weights (as if from another model version)."""
    data = torch.load(trained_run / "checkpoints" / "last.pt", weights_only=True)
    data["config"]["controller"]["hidden_size"] = 12
    path = tmp_path / "other" / "checkpoints" / "last.pt"
    path.parent.mkdir(parents=True)
    torch.save(data, path)
    return path


def test_a_checkpoint_from_an_incompatible_model_gets_one_line(trained_run, tmp_path):
    ckpt = _incompatible_checkpoint(trained_run, tmp_path)
    before = ckpt.read_bytes()
    for args in (["eval", f"checkpoint={ckpt}", "hydra.run.dir=ev"], ["train", f"resume={ckpt.parent.parent}"]):
        proc = run_ntm(*args, cwd=tmp_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, (args, proc.stderr)
        assert "does not fit the model its config describes" in lines[0], lines
    assert ckpt.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "other").rglob("*")) == ["checkpoints", "last.pt"]
    assert not (tmp_path / "ev").exists()


def test_bad_eval_input_gets_one_clear_line(trained_run, tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(256))
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((trained_run / "checkpoints" / "best.pt").read_bytes()[:1000])
    plain = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(2)}, plain)
    ckpt = trained_run / "checkpoints" / "best.pt"
    cases = [
        ([], "checkpoint is required"),
        (["checkpoint=missing.pt"], "does not exist"),
        ([f"checkpoint={tmp_path}"], "is a folder"),
        ([f"checkpoint={garbage}"], "cannot be loaded"),
        ([f"checkpoint={empty}"], "cannot be loaded"),
        ([f"checkpoint={truncated}"], "cannot be loaded"),
        ([f"checkpoint={plain}"], "is not an ntm checkpoint"),
        ([f"checkpoint={ckpt}", "train.steps=3"], "unknown key 'train.steps'"),
        ([f"checkpoint={ckpt}", "model.memory_n=64"], "unknown key 'model.memory_n'"),
        ([f"checkpoint={ckpt}", "eval.lengths=[0]"], "every length must be greater than 0"),
    ]
    before = ckpt.read_bytes()
    for args, words in cases:
        proc = run_ntm("eval", *args, "hydra.run.dir=ev", cwd=tmp_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(lines) == 1 and lines[0].startswith("ntm eval: error: ") and words in lines[0], (args, lines)
    assert ckpt.read_bytes() == before


class _RunsCodeWhenUnpickled:
    """Unpickling this calls os.system: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused_and_never_runs_it(tmp_path):
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "ntm-checkpoint", "version": 1, "payload": _RunsCodeWhenUnpickled(marker)}, evil)
    for command in (["eval", f"checkpoint={evil}", "hydra.run.dir=ev"], ["train", f"resume={evil}"]):
        proc = run_ntm(*command, cwd=tmp_path)
        assert proc.returncode == 2 and "cannot be loaded safely" in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert not marker.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["evil.pt"]
    # The file really is malicious: an unsafe load runs its code.
    torch.load(evil, weights_only=False)
    assert marker.exists()


def test_a_run_directory_is_never_overwritten(trained_run, tmp_path):
    before = (trained_run / "checkpoints" / "last.pt").read_bytes()
    proc = run_ntm("train", *TINY, f"hydra.run.dir={trained_run}", cwd=tmp_path)
    assert proc.returncode == 2 and "already holds a training run" in proc.stderr
    assert (trained_run / "checkpoints" / "last.pt").read_bytes() == before


def test_unknown_subcommand(tmp_path):
    proc = run_ntm("fit", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown command 'fit'" in proc.stderr


TASK_SIZES = {
    "copy": ["task.max_len=3"],
    "repeat_copy": ["task.max_len=2", "task.max_repeats=2"],
    "associative_recall": ["task.max_items=3", "task.item_len=1"],
    "ngram": ["task.length=12"],
    "priority_sort": ["task.num_inputs=5", "task.num_outputs=3", "task.width=2"],
}
EVAL_SIZES = {
    "copy": (["eval.lengths=[4]"], ["length 1-3", "length 4"]),
    "repeat_copy": (
        ["eval.lengths=[3]", "eval.repeats=[1,3]"],
        ["length 1-2, repeats 1-2", "length 3, repeats 1", "length 3, repeats 3"],
    ),
    "associative_recall": (["eval.lengths=[4]"], ["items 2-3", "items 4"]),
    "ngram": (["eval.lengths=[20]"], ["12 bits", "20 bits"]),
    "priority_sort": (["eval.lengths=[10]"], ["5 inputs, 3 outputs", "10 inputs, 6 outputs"]),
}


@pytest.mark.parametrize("task", list(TASK_SIZES))
def test_every_task_trains_and_evaluates(tmp_path, task):
    """ntm train task=NAME then ntm eval on its checkpoint, for each of the paper's five tasks."""
    tiny = [a for a in TINY if not a.startswith("task.")]
    proc = run_ntm("train", f"task={task}", *tiny, *TASK_SIZES[task], "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    overrides, rows = EVAL_SIZES[task]
    ckpt = tmp_path / "run" / "checkpoints" / "last.pt"
    proc = run_ntm("eval", f"checkpoint={ckpt}", "eval.num_sequences=3", *overrides, "hydra.run.dir=ev", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "ev" / "eval.json").read_text())
    assert list(result["rows"]) == rows
    for row in result["rows"].values():
        assert row["cost_bits_per_sequence"] > 0
        assert ("optimal_cost_bits_per_sequence" in row) == (task == "ngram")


MODEL_SIZES = {
    "ntm": [],
    "dnc": ["model.read_heads=2"],
    "lstm": ["model.hidden_size=8", "model.layers=2"],
}


@pytest.mark.parametrize("model", list(MODEL_SIZES))
def test_every_model_trains_checkpoints_and_evaluates(tmp_path, model):
    """model=NAME trains through the same loop, and its checkpoint loads into ntm eval."""
    tiny = [a for a in TINY if model != "lstm" or not a.startswith("model.")]
    proc = run_ntm("train", f"model={model}", *tiny, *MODEL_SIZES[model], "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["config"]["model"]["name"] == model and ckpt["step"] == 6
    proc = run_ntm(
        "eval",
        f"checkpoint={tmp_path / 'run/checkpoints/last.pt'}",
        "eval.num_sequences=3",
        "eval.lengths=[5]",
        "hydra.run.dir=ev",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "ev" / "eval.json").read_text())
    assert result["model"] == model and list(result["rows"]) == ["length 1-3", "length 5"]
    if model == "lstm":
        proc = run_ntm("eval", f"checkpoint={tmp_path / 'run/checkpoints/last.pt'}", "eval.memory_n=64", cwd=tmp_path)
        assert proc.returncode == 2 and "eval.memory_n applies to the memory models" in proc.stderr
        assert "Traceback" not in proc.stderr


def test_task_configs_carry_training_defaults_that_overrides_and_presets_beat(tmp_path):
    def job(*args):
        proc = run_ntm("train", *args, "--cfg", "job", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        return OmegaConf.create(proc.stdout)

    copy, repeat = job("task=copy"), job("task=repeat_copy")
    assert copy.train.batch_size == 16 and not copy.train.compile and copy.optimizer.lr == 1e-2
    assert repeat.train.curriculum.enabled and repeat.train.compile and repeat.optimizer.lr == 5e-3
    assert repeat.train.max_seconds == 1800 and not copy.train.curriculum.enabled
    priority = job("task=priority_sort")
    assert repeat.train.compile_steps == 1 and priority.train.compile_steps == 4
    assert priority.train.max_seconds == 5400  # the one task with a 90-minute budget
    assert job("task=repeat_copy", "train.batch_size=4").train.batch_size == 4
    preset = job("experiment=graves2014/repeat_copy")
    assert preset.train.batch_size == 1 and preset.optimizer.lr == 1e-4 and preset.train.max_seconds is None
    # tuned/TASK_ntm.yaml applies to the NTM only.
    for task in ("priority_sort", "associative_recall", "ngram"):
        assert job(f"task={task}").model.memory_init == "learned"
        assert "memory_init" not in job(f"task={task}", "model=dnc").model
    assert job("task=copy").model.memory_init == "constant"


def test_eval_with_a_larger_memory_than_trained(trained_run, tmp_path):
    """eval.memory_n runs a model trained with 8 locations on sequences that need 40."""
    ckpt = trained_run / "checkpoints" / "best.pt"
    args = ["eval.memory_n=64", "eval.lengths=[40]", "eval.num_sequences=2", "hydra.run.dir=ev"]
    proc = run_ntm("eval", f"checkpoint={ckpt}", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "ev" / "eval.json").read_text())
    assert result["memory_n"] == 64 and list(result["rows"]) == ["length 1-3", "length 40"]


def test_max_seconds_stops_training_after_a_last_validation(tmp_path):
    args = [a for a in TINY if not a.startswith("train.steps")]
    proc = run_ntm("train", *args, "train.steps=100000", "train.max_seconds=0.5", "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0 < metrics["steps"] < 100000 and metrics["validation"]["step"] == metrics["steps"]


def test_graves2014_lstm_presets_pin_the_papers_baseline(tmp_path):
    proc = run_ntm("train", "experiment=graves2014/repeat_copy_lstm", "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cfg = OmegaConf.create(proc.stdout)
    assert (cfg.task.name, cfg.model.name, cfg.model.hidden_size, cfg.model.layers) == ("repeat_copy", "lstm", 512, 3)
    assert (cfg.optimizer.name, cfg.optimizer.lr, cfg.train.batch_size) == ("rmsprop", 3e-5, 1)


@pytest.mark.parametrize("preset", ["copy", "associative_recall_ff", "priority_sort"])
def test_graves2014_presets_pin_the_papers_settings(tmp_path, preset):
    proc = run_ntm("train", f"experiment=graves2014/{preset}", "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cfg = OmegaConf.create(proc.stdout)
    assert cfg.optimizer.name == "rmsprop" and cfg.optimizer.momentum == 0.9
    assert cfg.model.memory_n == 128 and cfg.model.memory_m == 20
    assert cfg.train.clip_grad_value == 10.0
    expected = {
        "copy": ("copy", "lstm", 1, 100, 1, 1e-4),
        "associative_recall_ff": ("associative_recall", "feedforward", 4, 256, 1, 1e-4),
        "priority_sort": ("priority_sort", "lstm", 5, 100, 2, 3e-5),
    }[preset]
    got = (
        cfg.task.name,
        cfg.controller.name,
        cfg.model.read_heads,
        cfg.controller.hidden_size,
        cfg.controller.layers,
        cfg.optimizer.lr,
    )
    assert got == expected and cfg.model.write_heads == cfg.model.read_heads


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    """`ntm train --help | head -1`: the closed pipe ends ntm quietly."""
    proc = subprocess.Popen(
        [ntm_executable(), "train", "--help"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # before ntm has started up: its first write meets a closed pipe
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr

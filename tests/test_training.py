"""``train(cfg)`` in-process: what a run writes, when it stops, and that it never exits the process."""

from __future__ import annotations

import json
import re

import pytest
import torch
from conftest import SMALL, config, evaluate_run, run, tb_scalars

from ntm_cli import metrics, training
from ntm_cli.config import changed_settings
from ntm_cli.errors import ConfigError, DivergedError, ResourceError
from ntm_cli.training import train


def test_train_writes_a_complete_run_directory(trained_run):
    """Log, last/best/periodic checkpoints, TensorBoard events and metrics.json."""
    assert (trained_run / "train.log").is_file()
    names = sorted(p.name for p in (trained_run / "checkpoints").iterdir())
    assert names == ["best.pt", "last.pt", "step_0000003.pt", "step_0000006.pt"]
    m = json.loads((trained_run / "metrics.json").read_text())
    assert (m["status"], m["ended_by"], m["steps"], m["sequences"]) == ("done", "steps", 6, 24)
    assert m["wall_seconds"] > 0 and m["parameters"] > 0
    assert set(m["validation"]) == {"step", "cost_bits_per_sequence", "bit_errors_per_sequence"}
    assert "solved_at_step" not in m


def test_tensorboard_gets_every_metric_by_name(trained_run):
    scalars = tb_scalars(trained_run)
    train_names = [m.name for m in metrics.METRICS if metrics.TRAIN in m.phases and m.name != "curriculum_level"]
    for name in train_names:
        assert [step for step, _ in scalars[f"train/{name}"]] == [2, 4, 6], name
    for name in ("cost_bits_per_sequence", "bit_errors_per_sequence"):
        assert [step for step, _ in scalars[f"val/{name}"]] == [3, 6]
    assert "val/optimal_cost_bits_per_sequence" not in scalars  # copy has no optimal predictor
    m = json.loads((trained_run / "metrics.json").read_text())
    assert scalars["val/cost_bits_per_sequence"][-1][1] == pytest.approx(m["validation"]["cost_bits_per_sequence"])


def test_checkpoint_is_plain_data_that_loads_with_weights_only(trained_run):
    ckpt = torch.load(trained_run / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["format"] == "ntm-checkpoint" and ckpt["step"] == 6 and ckpt["sequences"] == 24
    assert isinstance(ckpt["config"], dict) and ckpt["config"]["model"]["memory_n"] == 8
    assert set(ckpt["rng"]) >= {"data", "torch", "cuda"}
    assert ckpt["optimizer"]["state"], "the optimizer state is saved"
    assert any(k.startswith("controller.") for k in ckpt["model"])


def test_the_log_says_what_was_changed_and_where_the_run_is(trained_run):
    text = (trained_run / "train.log").read_text()
    assert "settings beyond the defaults: " in text and "train.steps=6" in text and "task.max_len=3" in text
    assert f"evaluate it with: ntm eval checkpoint={trained_run}" in text


def test_changed_settings_name_what_a_task_config_changes():
    from ntm_cli.config import typed_train

    changed = changed_settings(typed_train(config("task=repeat_copy", small=False)))
    assert "optimizer.lr=0.005" in changed and "train.curriculum.enabled=true" in changed
    assert not any(c.startswith("task.") for c in changed)  # repeat copy's sizes are its defaults
    assert changed_settings(typed_train(compose_plain())) == []


def compose_plain():
    from ntm_cli import compose

    return compose("train", [])


def test_target_bit_errors_stops_the_run_and_records_when(tmp_path):
    """A target every model meets is checked at the first log step (2; validation comes every 3) because the
    training batches met it; the run stops there, recording step, sequences and seconds."""
    result = run(tmp_path, "train.target_bit_errors=1000")
    m = result.metrics
    assert (result.status, m["ended_by"], m["steps"], m["validation"]["step"]) == ("done", "target", 2, 2)
    assert m["solved_at_step"] == 2 and m["solved_at_sequences"] == 8 and m["solved_at_seconds"] > 0


def test_metrics_json_says_running_after_each_validation_and_done_at_the_end(tmp_path, monkeypatch):
    seen = []
    validate = training.Run.validate

    def watched(self, sinks):
        reached = validate(self, sinks)
        seen.append(json.loads((self.run_dir / "metrics.json").read_text()))
        return reached

    monkeypatch.setattr(training.Run, "validate", watched)
    result = run(tmp_path)
    assert [(m["status"], m["steps"], m["validation"]["step"]) for m in seen] == [("running", 3, 3), ("running", 6, 6)]
    assert result.metrics["status"] == "done"
    assert json.loads((result.run_dir / "metrics.json").read_text())["status"] == "done"


def test_a_target_the_training_batches_miss_is_checked_every_eval_every_steps_only(tmp_path):
    result = run(tmp_path, "train.target_bit_errors=0.001", "train.steps=9")
    validated = re.findall(r"step (\d+): validation", (result.run_dir / "train.log").read_text())
    assert result.metrics["ended_by"] == "steps" and validated == ["3", "6", "9"]


def test_the_same_seed_trains_the_same_model_and_another_does_not(tmp_path):
    """Every random draw comes from the seed: two runs give identical parameters and metrics."""
    a, b, c = (run(tmp_path, f"seed={s}", name=n) for s, n in ((3, "a"), (3, "b"), (4, "c")))
    load = lambda r: torch.load(r.run_dir / "checkpoints" / "last.pt", weights_only=True)  # noqa: E731
    ka, kb, kc = load(a), load(b), load(c)
    assert all(torch.equal(ka["model"][k], kb["model"][k]) for k in ka["model"])
    assert a.metrics["best"] == b.metrics["best"] and a.metrics["best"] != c.metrics["best"]
    assert not all(torch.equal(ka["model"][k], kc["model"][k]) for k in ka["model"])


def test_max_seconds_stops_training_after_a_last_validation(tmp_path):
    result = run(tmp_path, "train.steps=100000", "train.max_seconds=0.5")
    m = result.metrics
    assert m["ended_by"] == "time" and 0 < m["steps"] < 100000 and m["validation"]["step"] == m["steps"]


def test_the_objective_is_the_figure_its_key_names(tmp_path):
    result = run(tmp_path, "objective=best.bit_errors_per_sequence")
    assert result.objective == result.metrics["best"]["bit_errors_per_sequence"]
    assert run(tmp_path, "objective=solved_at_seconds", name="b").objective is None  # unsolved


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ([], "is at step 6 of train.steps=6; to train on, give train.steps above 6"),
        (["model.memory_n=16"], "holds a run of another config (model.memory_n: 8 there, 16 here)"),
        (["train.steps=9", "train.resume=never"], "already holds a training run"),
    ],
)
def test_a_run_directory_is_never_overwritten(trained_run, overrides, words):
    """Started again in its own directory, a run of the same config with nothing left to train, a run of
    another config, and any run with train.resume=never are refused, and the run is left as it was."""
    before = {p: p.read_bytes() for p in trained_run.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError, match=re.escape(words)):
        train(config(*overrides), trained_run)
    assert {p: p.read_bytes() for p in trained_run.rglob("*") if p.is_file()} == before


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
    """Each of the paper's five tasks trains with its own config (debug sizes), and its checkpoint evaluates."""
    result = train(
        config(f"task={task}", "model.memory_n=8", "model.memory_m=4", *TASK_SIZES[task], small=False), tmp_path / "run"
    )
    assert result.status == "done"
    overrides, rows = EVAL_SIZES[task]
    ev = evaluate_run(tmp_path / "run", *overrides)
    assert list(ev.result["rows"]) == rows and ev.result["complete"]
    for row in ev.result["rows"].values():
        assert row["cost_bits_per_sequence"] > 0
        assert ("optimal_cost_bits_per_sequence" in row) == (task == "ngram")


MODEL_SIZES = {
    "ntm": SMALL,
    "dnc": [*SMALL, "model.read_heads=2"],
    "lstm": ["task.max_len=3", "model=lstm", "model.hidden_size=8", "model.layers=2"],
}


@pytest.mark.parametrize("model", list(MODEL_SIZES))
def test_every_model_trains_checkpoints_and_evaluates(tmp_path, model):
    result = train(config(f"model={model}", *MODEL_SIZES[model], small=False), tmp_path / "run")
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["config"]["model"]["name"] == model and ckpt["step"] == 6 == result.metrics["steps"]
    ev = evaluate_run(tmp_path / "run" / "checkpoints" / "last.pt", "eval.lengths=[5]")
    assert ev.result["model"] == model and list(ev.result["rows"]) == ["length 1-3", "length 5"]
    assert ev.result["controller"] == (None if model == "lstm" else "lstm")
    log = (tmp_path / "run" / "train.log").read_text()
    assert ("controller=lstm" in log.splitlines()[0]) == (model != "lstm")


def _compiled_training_follows_the_eager_run(tmp_path, compile_steps: int) -> None:
    """train.compile=true compiles the time step and trains to the same parameters, up to rounding."""
    models = []
    for name, compile_ in (("eager", "false"), ("compiled", "true")):
        args = ["seed=2", f"train.compile={compile_}", f"train.compile_steps={compile_steps}"]
        result = run(tmp_path, *args, name=name)
        log = (result.run_dir / "train.log").read_text()
        assert (f"compiling the time step ({compile_steps} time step(s) per call)" in log) == (compile_ == "true")
        assert f"train.compile={compile_}: train.compile={compile_}" in log
        assert (result.metrics["compile_seconds"] > 0) == (compile_ == "true")
        models.append(torch.load(result.run_dir / "checkpoints" / "last.pt", weights_only=True)["model"])
    eager, compiled = models
    assert eager.keys() == compiled.keys()
    for k in eager:
        torch.testing.assert_close(compiled[k], eager[k], rtol=1e-4, atol=1e-5, msg=k)


def test_compiled_training_follows_the_eager_run(tmp_path):
    _compiled_training_follows_the_eager_run(tmp_path, 1)


@pytest.mark.slow
def test_training_compiled_three_steps_per_call_follows_the_eager_run(tmp_path):
    """train.compile_steps=3: one graph of three time steps (a longer compile), the same training."""
    _compiled_training_follows_the_eager_run(tmp_path, 3)


def test_a_diverged_run_raises_one_clear_error_and_records_it(tmp_path):
    """An absurd learning rate: no non-finite update is applied, the run stops, metrics.json says why."""
    diverge = ["optimizer.lr=1e30", "train.clip_grad_norm=null", "train.max_bad_steps=3", "train.steps=100"]
    with pytest.raises(DivergedError, match=r"stopped at step \d+: \d+ steps in a row had a non-finite") as info:
        run(tmp_path, *diverge, "train.checkpoint_every=50")
    assert "lower optimizer.lr" in str(info.value)
    assert "holds the last good state" not in str(info.value)  # no checkpoint was written before it diverged
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["status"] == "diverged" and m["error"] == str(info.value) and m["ended_by"] == "non-finite"
    with pytest.raises(DivergedError, match="holds the last good state"):
        run(tmp_path, *diverge, "train.checkpoint_every=1", name="b")
    saved = torch.load(tmp_path / "b" / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in saved["model"].values())


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["model.memory_n=100000000"], "model.memory_n=100000000"),
        (["train.batch_size=100000"], "train.batch_size=100000"),
    ],
)
def test_a_run_that_cannot_fit_in_memory_is_refused_before_it_starts(tmp_path, args, key):
    with pytest.raises(ResourceError, match="needs at least .* GiB of memory") as info:
        run(tmp_path, *args, small=False)
    assert key in str(info.value)
    assert not (tmp_path / "run").exists()


def test_an_allocation_failure_becomes_one_line_naming_the_key(tmp_path, monkeypatch):
    from ntm_cli import step

    def fail(self, batch):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:116] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(step.TrainStep, "__call__", fail)
    with pytest.raises(ResourceError, match=r"out of memory .*lower train.batch_size=4 or model.memory_n=8"):
        run(tmp_path)


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["controller=feedforward", "model.read_heads=2", "model.write_heads=3", "model.shift_range=2"],
        ["model.memory_init=learned", "controller.layers=2"],
        ["model=dnc", "model.read_heads=3"],
        ["model=lstm", "model.layers=2", "model.hidden_size=32"],
        ["task=priority_sort"],
    ],
)
def test_a_models_sizes_are_known_before_it_is_built(overrides):
    """The memory check counts parameters and state without building the model: the counts are exact."""
    from ntm_cli import compose
    from ntm_cli.config import typed_train
    from ntm_cli.models import spec_of
    from ntm_cli.tasks import build_task

    cfg = typed_train(compose("train", overrides))
    spec, task = spec_of(cfg.model), build_task(cfg.task)
    model = spec.build(cfg.model, cfg.controller, task.input_size, task.output_size)
    state = model.initial_state(1)
    leaves = state if not hasattr(state, "_fields") else [*state[0], *state[1:]]
    floats = sum(t.numel() for t in leaves if isinstance(t, torch.Tensor))
    expected = (sum(p.numel() for p in model.parameters()), floats)
    assert spec.sizes(cfg.model, cfg.controller, task.input_size, task.output_size) == expected


def test_ntm_decides_whether_to_compile_and_records_it(tmp_path, monkeypatch):
    """train.compile=null compiles a step that is in the cache or a long run; a short new step stays eager."""
    from ntm_cli import compiling
    from ntm_cli.config import typed_train

    monkeypatch.setenv("NTM_CACHE_DIR", str(tmp_path / "cache"))

    def decision(*overrides: str, small: bool = True) -> tuple[bool, str]:
        cfg = typed_train(config("train.compile=null", *overrides, small=small))
        return compiling.decide(cfg, cfg.model.name != "lstm", "key")

    compile_, why = decision()
    assert not compile_ and "eager" in why
    assert decision("train.max_seconds=1800")[0] and decision("train.steps=100000", "train.batch_size=16")[0]
    assert not decision("train.steps=100000", "train.target_bit_errors=0.01")[0]  # it may stop much earlier
    assert not decision("model=lstm", "model.hidden_size=8", "train.max_seconds=1800", small=False)[0]
    assert decision("train.compile=true") == (True, "train.compile=true")
    compiling.note_compiled("key", 12.0, "a test")
    assert decision() == (True, f"this step is in the compile cache ({tmp_path / 'cache'})")
    given = typed_train(config("train.compile=null"))
    result = train(given, tmp_path / "run")  # the run's record says what was decided
    assert given.train.compile is None  # the config given is left as it was
    saved = torch.load(result.run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert saved["config"]["train"]["compile"] is False
    assert "train.compile=false: a short run" in (result.run_dir / "train.log").read_text()


def test_best_pt_is_the_fewest_bit_errors_and_of_equals_the_lowest_cost(tmp_path, monkeypatch):
    scripted = iter([(0.0, 2.0), (0.0, 1.0), (1.0, 0.5)])  # validations at steps 3, 6, 9

    def measure(*args, **kwargs):
        errors, cost = next(scripted)
        return {"cost_bits_per_sequence": cost, "bit_errors_per_sequence": errors}

    monkeypatch.setattr(metrics, "measure", measure)
    result = run(tmp_path, "train.steps=9")
    assert result.metrics["best"] == {"step": 6, "cost_bits_per_sequence": 1.0, "bit_errors_per_sequence": 0.0}
    assert torch.load(result.run_dir / "checkpoints" / "best.pt", weights_only=True)["step"] == 6

"""Config schemas and validation: every value typed and range-checked, each default in one place."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import every_option
from omegaconf import OmegaConf

from ntm_cli.composition import compose, config_dir, job_dirname, normalize_overrides
from ntm_cli.config import (
    EvalConfig,
    TrainConfig,
    keys,
    memory_fit,
    plain,
    typed_train,
    validate_eval,
    validate_train,
)
from ntm_cli.errors import ConfigError
from ntm_cli.models import MODELS
from ntm_cli.tasks import TASKS, task_schema


def _train(**changes):
    data = OmegaConf.create(plain(typed_train({"task": {"name": "copy"}})))
    for key, value in changes.items():
        OmegaConf.update(data, key, value, merge=False)
    return typed_train(data)


def test_defaults_are_valid_and_warn_of_nothing():
    assert validate_train(_train()) == []
    validate_eval(EvalConfig(checkpoint="x.pt"))


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("controller.name", "gru", "controller=gru is not known"),
        ("optimizer.name", "sgd", "optimizer=sgd is not known"),
        ("device.name", "tpu", "device=tpu is not known"),
        ("model.memory_init", "zeros", "model.memory_init=zeros is not known"),
        ("model.memory_n", 0, "model.memory_n=0 must be greater than 0"),
        ("controller.hidden_size", -3, "controller.hidden_size=-3 must be greater than 0"),
        ("train.batch_size", 0, "train.batch_size=0 must be greater than 0"),
        ("train.steps", -1, "train.steps=-1 must be greater than 0"),
        ("optimizer.lr", 0.0, "optimizer.lr=0.0 must be greater than 0"),
        ("optimizer.plateau.factor", 1.5, "optimizer.plateau.factor=1.5 must be between 0 and 1"),
        ("optimizer.plateau.patience", -1, "optimizer.plateau.patience=-1 must be 0 or more"),
        ("optimizer.plateau.threshold", 1.0, "optimizer.plateau.threshold=1.0 must be 0 or more and under 1"),
        ("optimizer.plateau.min_lr", -0.1, "optimizer.plateau.min_lr=-0.1 must be 0 or more"),
        ("eval.num_sequences", 0, "eval.num_sequences=0 must be greater than 0"),
        ("eval.lengths", [5, 0], "every value must be greater than 0"),
        ("train.target_bit_errors", -0.5, "must be 0 or more"),
        ("train.keep_checkpoints", -1, "train.keep_checkpoints=-1 must be 0 or more"),
        ("train.curriculum.full_share", 1.0, "train.curriculum.full_share=1.0 must be 0 or more and under 1"),
        ("model.shift_range", 70, "needs model.memory_n >= 141"),
        ("task.min_len", 0, "task.min_len=0 must be greater than 0"),
        ("objective", "loss", "objective=loss is not a figure of metrics.json"),
    ],
)
def test_out_of_range_values_are_named(key, value, words):
    with pytest.raises(ConfigError, match=words):
        validate_train(_train(**{key: value}))


def test_each_task_checks_its_own_sizes():
    with pytest.raises(ConfigError, match="task.min_len=5 is greater than task.max_len=2"):
        validate_train(_train(**{"task.min_len": 5, "task.max_len": 2}))
    recall = typed_train({"task": {"name": "associative_recall", "min_items": 1}})
    with pytest.raises(ConfigError, match="a query needs an item after it"):
        validate_train(recall)
    sort = typed_train({"task": {"name": "priority_sort", "num_outputs": 21}})
    with pytest.raises(ConfigError, match="task.num_outputs=21 exceeds task.num_inputs=20"):
        validate_train(sort)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        validate_train(_train(**{"train.steps": 0, "model.memory_m": 0}))
    assert "train.steps=0" in str(info.value) and "model.memory_m=0" in str(info.value)


@pytest.mark.parametrize(("key", "value"), [("train.steps", "many"), ("model.memory_n", 1.5), ("seed", [1])])
def test_wrong_types_are_refused_by_the_schema(key, value):
    with pytest.raises(ConfigError, match=key):
        _train(**{key: value})


def test_a_checkpoint_config_round_trips_through_plain_data():
    cfg = _train(**{"model.memory_n": 64, "controller.name": "feedforward"})
    again = typed_train(plain(cfg))
    assert again == cfg and isinstance(again, TrainConfig)
    assert typed_train({**plain(cfg), "resume": None}) == cfg  # older checkpoints carried resume: null


def test_whole_numbers_written_as_floats_become_integers():
    assert normalize_overrides(["train.steps=1e3", "optimizer.lr=1e-3", "seed=7", "x=abc", "hydra.job.num=1.0"]) == [
        "train.steps=1000",
        "optimizer.lr=1e-3",
        "seed=7",
        "x=abc",
        "hydra.job.num=1.0",
    ]
    assert compose("train", ["train.steps=2.5e3"]).train.steps == 2500


def test_sweep_job_folders_are_named_by_overrides_unless_too_long():
    assert job_dirname("seed=1,train.batch_size=4", 3) == "seed=1,train.batch_size=4"
    assert job_dirname("", 0) == "job0"
    long = ",".join(f"key{i}=value{i}" for i in range(40))
    name = job_dirname(long, 7)
    assert name.startswith("job7-") and len(name) == len("job7-") + 10
    assert name != job_dirname(long + "x", 7)


def test_every_key_is_described():
    """`ntm train --help` describes each key from the schemas' docstrings: none may be left out."""
    schemas = [TrainConfig, EvalConfig, *(task_schema(n) for n in TASKS), *(s.config for s in MODELS.values())]
    for schema in schemas:
        for key, _, text in keys(schema()):
            assert text, f"{schema.__name__}.{key} has no description in its class's Attributes: section"


def test_a_default_lives_in_the_schema_not_in_the_yaml_files():
    """No option file under conf/ repeats a schema default: it states only what it changes. (Presets, composed
    after the task's config, may set a default back on purpose: experiment=debug turns compilation off.)"""
    defaults = plain(typed_train({}))

    def leaves(node, prefix=""):
        for k, v in node.items():
            if isinstance(v, dict):
                yield from leaves(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v

    flat = dict(leaves(defaults))
    for path in config_dir().rglob("*.yaml"):
        if "hydra" in path.parts or "experiment" in path.parts:
            continue
        data = OmegaConf.to_container(OmegaConf.load(path))
        data.pop("defaults", None)
        data.pop("hydra", None)
        for key, value in leaves(data):
            if key in ("task.name",):
                continue
            assert flat.get(key, object()) != value, f"{path.name} repeats {key}={value}"


def test_every_config_file_composes():
    """Each option of each group, each preset: composed and typed (what an installed wheel must carry too)."""
    options = every_option(config_dir())
    in_groups = [p for p in config_dir().rglob("*.yaml") if p.parent != config_dir()]
    assert len(options) == len([p for p in in_groups if p.relative_to(config_dir()).parts[0] != "hydra"])
    for overrides in options:
        validate_train(typed_train(compose("train", overrides)))


def _model(name="ntm", memory_n=128, memory_m=20):
    return dataclasses.replace(MODELS[name].config(), memory_n=memory_n, memory_m=memory_m)


@pytest.mark.parametrize(
    ("memory_n", "memory_m", "problems", "warnings"),
    [
        (20, 20, 0, 0),  # a location per vector
        (19, 20, 0, 1),  # 380 numbers for 160 bits, but fewer locations than vectors
        (8, 20, 0, 1),  # 160 numbers: just enough numbers
        (7, 20, 1, 0),  # 140 numbers < 160 bits
        (40, 3, 1, 0),  # 120 numbers < 160 bits, although more locations than vectors
    ],
)
def test_memory_fit_refuses_what_cannot_fit_and_warns_of_what_is_likely_to_fail(memory_n, memory_m, problems, warnings):
    from ntm_cli.tasks import CopyTask

    demand = CopyTask(width=8, max_len=20).memory_demand  # 20 vectors of 8 bits
    assert (demand.vectors, demand.size) == (20, 8)
    found = memory_fit(_model(memory_n=memory_n, memory_m=memory_m), demand)
    assert (len(found[0]), len(found[1])) == (problems, warnings), found


def test_memory_fit_names_the_size_that_fits():
    from ntm_cli.tasks import CopyTask

    (problem,), _ = memory_fit(_model(memory_n=7, memory_m=20), CopyTask(width=8, max_len=20).memory_demand)
    assert problem.endswith("use model.memory_n=20 or more")
    (problem,), _ = memory_fit(_model(memory_n=40, memory_m=3), CopyTask(width=8, max_len=20).memory_demand)
    assert "too few to hold up to 20 vectors" in problem and problem.endswith("use model.memory_n=54 or more")


def test_the_lstm_has_no_memory_to_fit():
    from ntm_cli.tasks import CopyTask

    assert memory_fit(MODELS["lstm"].config(), CopyTask(max_len=1000).memory_demand) == ([], [])


def test_every_task_states_its_memory_demand():
    from ntm_cli.tasks import AssociativeRecallTask, NgramTask, PrioritySortTask, RepeatCopyTask

    assert RepeatCopyTask(width=8, max_len=10, max_repeats=20).memory_demand[:2] == (10, 8)
    assert AssociativeRecallTask(width=6, item_len=3, max_items=6).memory_demand[:2] == (18, 6)
    assert PrioritySortTask(width=8, num_inputs=20).memory_demand[:2] == (20, 9)
    assert NgramTask(context=5, length=200).memory_demand[:2] == (32, 2)
    assert NgramTask(context=5, length=12).memory_demand[:2] == (12, 2)


def test_the_papers_settings_fit_their_memory():
    """Every task's defaults fit the default 128 x 20 memory: no problem and no warning."""
    for cls in TASKS.values():
        assert memory_fit(_model(), cls().memory_demand) == ([], []), cls.name


def test_configs_are_found_beside_the_package_in_a_source_checkout():
    assert config_dir() == Path(__file__).resolve().parents[1] / "conf"


def test_the_configuration_reference_is_current(tmp_path):
    """docs/configuration.md's reference part is what `make docs` writes from today's schemas and configs."""
    import shutil

    from ntm_cli import reference

    page = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
    copy = tmp_path / "configuration.md"
    shutil.copy(page, copy)
    assert not reference.rewrite(copy), "docs/configuration.md is out of date: run `make docs`"
    assert "| `train.steps` | `10000` | optimizer steps to train in all |" in copy.read_text()


def test_validations_come_every_1600_sequences_and_at_least_100_steps_apart_unless_eval_every_says():
    every = {
        b: typed_train(compose("train", [f"train.batch_size={b}"])).train.validation_every() for b in (1, 8, 16, 128)
    }
    assert every == {1: 1600, 8: 200, 16: 100, 128: 100}
    assert typed_train(compose("train", ["train.batch_size=1", "train.eval_every=7"])).train.validation_every() == 7
    assert typed_train(compose("train", ["task=associative_recall"])).train.validation_every() == 500

"""Config schemas and validation: every value is type-checked and range-checked."""

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from ntm_cli.config import (
    ConfigError,
    EvalCommandConfig,
    TrainCommandConfig,
    job_dirname,
    memory_fit,
    typed_train_config,
    validate_eval,
    validate_train,
)


def _train(**overrides):
    cfg = typed_train_config({"task": {"name": "copy"}})
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value)
    return cfg


def test_defaults_are_valid():
    assert validate_train(_train()) == []
    validate_eval(OmegaConf.structured(EvalCommandConfig(checkpoint="x.pt")))


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("task.name", "nope", "task=nope is not known"),
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
        ("eval.lengths", [5, 0], "every length must be greater than 0"),
        ("train.target_bit_errors", -0.5, "must be 0 or more"),
        ("model.shift_range", 70, "needs model.memory_n >= 141"),
    ],
)
def test_out_of_range_values_are_named(key, value, words):
    with pytest.raises(ConfigError, match=words):
        validate_train(_train(**{key: value}))


def test_min_len_above_max_len_is_refused():
    with pytest.raises(ConfigError, match="task.min_len=5 is greater than task.max_len=2"):
        validate_train(_train(**{"task.min_len": 5, "task.max_len": 2}))


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        validate_train(_train(**{"train.steps": 0, "model.memory_m": 0}))
    assert "train.steps=0" in str(info.value) and "model.memory_m=0" in str(info.value)


def test_wrong_types_are_refused_by_the_schema():
    cfg = _train()
    with pytest.raises(ValidationError):
        cfg.train.steps = "many"
    with pytest.raises(ValidationError):
        cfg.model.memory_n = 1.5


def test_a_checkpoint_config_round_trips_through_plain_data():
    cfg = _train(**{"model.memory_n": 64, "controller.name": "feedforward"})
    again = typed_train_config(OmegaConf.to_container(cfg))
    assert again == cfg
    assert OmegaConf.get_type(again) is TrainCommandConfig


def test_eval_needs_a_checkpoint():
    with pytest.raises(ConfigError, match="checkpoint is required"):
        validate_eval(OmegaConf.structured(EvalCommandConfig))


def test_sweep_job_folders_are_named_by_overrides_unless_too_long():
    assert job_dirname("seed=1,train.batch_size=4", 3) == "seed=1,train.batch_size=4"
    assert job_dirname("", 0) == "job0"
    long = ",".join(f"key{i}=value{i}" for i in range(40))
    name = job_dirname(long, 7)
    assert name.startswith("job7-") and len(name) == len("job7-") + 10
    assert name != job_dirname(long + "x", 7)


def _model(name="ntm", memory_n=128, memory_m=20):
    return OmegaConf.create({"name": name, "memory_n": memory_n, "memory_m": memory_m})


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
    from tasks import CopyTask

    demand = CopyTask(width=8, max_len=20).memory_demand  # 20 vectors of 8 bits
    assert (demand.vectors, demand.size) == (20, 8)
    found = memory_fit(_model(memory_n=memory_n, memory_m=memory_m), demand)
    assert (len(found[0]), len(found[1])) == (problems, warnings), found


def test_memory_fit_names_the_size_that_fits():
    from tasks import CopyTask

    (problem,), _ = memory_fit(_model(memory_n=7, memory_m=20), CopyTask(width=8, max_len=20).memory_demand)
    assert problem.endswith("use model.memory_n=20 or more")
    (problem,), _ = memory_fit(_model(memory_n=40, memory_m=3), CopyTask(width=8, max_len=20).memory_demand)
    assert "too few to hold up to 20 vectors" in problem and problem.endswith("use model.memory_n=54 or more")


def test_the_lstm_has_no_memory_to_fit():
    lstm = OmegaConf.create({"name": "lstm", "hidden_size": 8, "layers": 1})
    from tasks import CopyTask

    assert memory_fit(lstm, CopyTask(max_len=1000).memory_demand) == ([], [])


def test_every_task_states_its_memory_demand():
    from tasks import AssociativeRecallTask, NgramTask, PrioritySortTask, RepeatCopyTask

    assert RepeatCopyTask(width=8, max_len=10, max_repeats=20).memory_demand[:2] == (10, 8)
    assert AssociativeRecallTask(width=6, item_len=3, max_items=6).memory_demand[:2] == (18, 6)
    assert PrioritySortTask(width=8, num_inputs=20).memory_demand[:2] == (20, 9)
    assert NgramTask(context=5, length=200).memory_demand[:2] == (32, 2)
    assert NgramTask(context=5, length=12).memory_demand[:2] == (12, 2)


def test_the_papers_settings_fit_their_memory():
    """Every task's defaults fit the default 128 x 20 memory: no problem and no warning."""
    from tasks import TASKS

    for cls in TASKS.values():
        assert memory_fit(_model(), cls().memory_demand) == ([], []), cls.name

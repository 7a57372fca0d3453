"""Typed config schemas for ``ntm train`` and ``ntm eval``, and their validation.

The dataclasses are registered in Hydra's ConfigStore by ``register_configs``
(called by the CLI, never at import); each YAML file under ``conf/`` names its
schema in its defaults list, so Hydra type-checks every value it composes.
Range and cross-field checks live in ``validate_train``/``validate_eval`` and
run once, at the start of a command.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field, make_dataclass
from functools import cache
from typing import Any, get_type_hints

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from ntm_cli.models.ntm import MEMORY_INITS
from tasks import TASKS
from tasks.base import MemoryDemand

TASK_NAMES = tuple(TASKS)
CONTROLLER_NAMES = ("lstm", "feedforward")
OPTIMIZER_NAMES = ("adam", "rmsprop")
DEVICE_NAMES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A user's config is invalid; the message says what is wrong and how to fix it."""


@cache
def task_schema(name: str) -> type:
    """The config schema of task ``name``: ``name`` plus the generator dataclass's fields."""
    cls = TASKS[name]
    hints = get_type_hints(cls)
    columns = [("name", str, field(default=name))]
    columns += [(f.name, hints[f.name], field(default=f.default)) for f in dataclasses.fields(cls)]
    return make_dataclass(f"{cls.__name__}Config", columns)


@dataclass
class NTMConfig:
    name: str = "ntm"
    memory_n: int = 128
    memory_m: int = 20
    read_heads: int = 1
    write_heads: int = 1
    shift_range: int = 1
    memory_init: str = "constant"
    memory_init_value: float = 1e-6


@dataclass
class DNCConfig:
    name: str = "dnc"
    memory_n: int = 128
    memory_m: int = 20
    read_heads: int = 1


@dataclass
class LSTMConfig:
    """The LSTM baseline: a stack of ``layers`` LSTMs of ``hidden_size`` units (no controller, no memory)."""

    name: str = "lstm"
    hidden_size: int = 256
    layers: int = 3


MODEL_SCHEMAS: dict[str, type] = {"ntm": NTMConfig, "dnc": DNCConfig, "lstm": LSTMConfig}
MODEL_NAMES = tuple(MODEL_SCHEMAS)


@dataclass
class ControllerConfig:
    name: str = "lstm"
    hidden_size: int = 100
    layers: int = 1


@dataclass
class PlateauConfig:
    """Lower the learning rate when the validation cost stops improving (torch's ReduceLROnPlateau)."""

    # Multiply the lr by this once the cost has not improved for more than ``patience``
    # validations in a row; null keeps the lr constant.
    factor: float | None = None
    patience: int = 1
    # An improvement counts when the cost falls below best * (1 - threshold).
    threshold: float = 1e-3
    min_lr: float = 0.0


@dataclass
class OptimizerConfig:
    name: str = "adam"
    lr: float = 1e-2
    # RMSProp's momentum and smoothing constant (torch's ``alpha``).
    momentum: float = 0.0
    alpha: float = 0.99
    eps: float = 1e-8
    # Adam's beta1 and beta2.
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    plateau: PlateauConfig = field(default_factory=PlateauConfig)


@dataclass
class DeviceConfig:
    name: str = "auto"
    # CPU threads for torch; null leaves torch's default.
    threads: int | None = None


@dataclass
class CurriculumConfig:
    """See ntm_cli/curriculum.py: grow the task's ranges from their small end as training learns them."""

    enabled: bool = False
    # Level at the start (0: every range at its minimum; 1: the task as configured).
    start: float = 0.0
    # Added to the level each time the training bit errors reach the threshold.
    step: float = 0.1
    # Mean training bit errors per sequence over one logging interval.
    threshold: float = 0.1


@dataclass
class TrainLoopConfig:
    steps: int = 10_000
    batch_size: int = 16
    checkpoint_every: int = 500
    eval_every: int = 100
    log_every: int = 20
    # Stop once validation bit errors per sequence are at or below this; null never stops early.
    target_bit_errors: float | None = 0.01
    val_sequences: int = 1000
    clip_grad_norm: float | None = 10.0
    clip_grad_value: float | None = None
    # Stop (after a last validation) once training has run this many seconds; null: no limit.
    max_seconds: float | None = None
    # Periodic checkpoints (step_XXXXXXX.pt) kept besides last.pt and best.pt.
    keep_checkpoints: int = 3
    # Compile the model's time step with torch.compile (needs a C++ compiler on the CPU):
    # 1.9-2.2x the training throughput on copy here after 15-25 s of compilation; worth it for runs of minutes.
    compile: bool = False
    # Time steps per call of the compiled step: more pay each call's overhead less often and compile longer
    # (4: 0.27 vs 0.42 ms per time step at batch 1, 1% at batch 128, 40-55 s to compile, README); pads to a multiple.
    compile_steps: int = 1
    # Stop once this many steps in a row had a non-finite loss or gradient (each is skipped).
    max_bad_steps: int = 50
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)


@dataclass
class EvalConfig:
    # The sizes to evaluate (copy: lengths; repeat_copy: lengths, with eval.repeats;
    # associative_recall: numbers of items); null means the task's generalisation protocol.
    lengths: list[int] | None = None
    repeats: list[int] | None = None
    num_sequences: int = 1000
    batch_size: int = 500
    # Evaluate with this many memory locations instead of the trained model's (NTM, non-learned memory).
    memory_n: int | None = None


@dataclass
class TrainCommandConfig:
    seed: int = 0
    # A run directory or checkpoint to continue from (ntm train resume=PATH); see ntm_cli/train.py.
    resume: str | None = None
    # One of task_schema(NAME); typed by ``typed_train_config`` once the name is known.
    task: Any = MISSING
    # One of MODEL_SCHEMAS; typed by ``typed_train_config`` once the name is known.
    model: Any = MISSING
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    train: TrainLoopConfig = field(default_factory=TrainLoopConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


@dataclass
class EvalCommandConfig:
    checkpoint: str = MISSING
    seed: int = 0
    device: DeviceConfig = field(default_factory=DeviceConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# Longest sweep job folder named by its overrides; longer names are shortened.
_MAX_DIRNAME = 120


def job_dirname(overrides: str, job_number: int) -> str:
    """A sweep job's folder: its overrides (``a=1,b=2``), or ``job<N>-<hash>`` when they are too long.

    A file name can hold 255 bytes; a sweep over many keys would exceed it.
    Every job's overrides are also in its ``.hydra/overrides.yaml``.
    """
    if len(overrides.encode()) <= _MAX_DIRNAME:
        return overrides or f"job{job_number}"
    return f"job{job_number}-{hashlib.sha1(overrides.encode()).hexdigest()[:10]}"


def register_configs() -> None:
    """Puts the schemas in Hydra's ConfigStore, and the ``job_dirname`` resolver in OmegaConf."""
    OmegaConf.register_new_resolver("job_dirname", job_dirname, replace=True)
    cs = ConfigStore.instance()
    for name in TASKS:
        cs.store(group="schema/task", name=name, node=task_schema(name))
    for name, node in MODEL_SCHEMAS.items():
        cs.store(group="schema/model", name=name, node=node)
    for name, node in (
        ("train", TrainCommandConfig),
        ("eval", EvalCommandConfig),
        ("controller", ControllerConfig),
        ("optimizer", OptimizerConfig),
        ("device", DeviceConfig),
    ):
        cs.store(group="schema", name=name, node=node)


def _check_choice(problems: list[str], key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        problems.append(f"{key}={value} is not known; use one of: {', '.join(choices)}")


def _check_positive(problems: list[str], cfg: Any, prefix: str, keys: tuple[str, ...]) -> None:
    for key in keys:
        value = getattr(cfg, key)
        if value is not None and value <= 0:
            problems.append(f"{prefix}.{key}={value} must be greater than 0")


def _eval_problems(cfg: EvalConfig) -> list[str]:
    problems: list[str] = []
    _check_positive(problems, cfg, "eval", ("num_sequences", "batch_size"))
    if cfg.lengths is not None:
        if len(cfg.lengths) == 0:
            problems.append("eval.lengths=[] is empty; give at least one length, or null for the task's protocol")
        problems += [f"eval.lengths has {n}; every length must be greater than 0" for n in cfg.lengths if n <= 0]
    if cfg.repeats is not None:
        problems += [f"eval.repeats has {n}; every count must be greater than 0" for n in cfg.repeats if n <= 0]
    _check_positive(problems, cfg, "eval", ("memory_n",))
    return problems


def _device_problems(cfg: DeviceConfig) -> list[str]:
    problems: list[str] = []
    _check_choice(problems, "device", cfg.name, DEVICE_NAMES)
    _check_positive(problems, cfg, "device", ("threads",))
    return problems


def _raise(problems: list[str]) -> None:
    if problems:
        raise ConfigError("; ".join(problems))


def _task_problems(task: Any) -> list[str]:
    problems: list[str] = []
    keys = tuple(k for k in task if k != "name")
    _check_positive(problems, task, "task", keys)
    for key in keys:
        if key.startswith("min_") and f"max_{key[4:]}" in task:
            lo, hi = task[key], task[f"max_{key[4:]}"]
            if lo > hi:
                problems.append(
                    f"task.{key}={lo} is greater than task.max_{key[4:]}={hi}; set task.{key} <= task.max_{key[4:]}"
                )
    if task.name == "associative_recall" and task.min_items < 2:
        problems.append(f"task.min_items={task.min_items}: a query needs an item after it; use 2 or more")
    if task.name == "priority_sort" and task.num_outputs > task.num_inputs:
        problems.append(f"task.num_outputs={task.num_outputs} exceeds task.num_inputs={task.num_inputs}")
    return problems


def _model_problems(model: Any) -> list[str]:
    problems: list[str] = []
    keys = tuple(
        k for k in ("memory_n", "memory_m", "read_heads", "write_heads", "hidden_size", "layers") if k in model
    )
    _check_positive(problems, model, "model", keys)
    if model.name == "ntm":
        _check_choice(problems, "model.memory_init", model.memory_init, MEMORY_INITS)
        if model.shift_range < 0:
            problems.append(f"model.shift_range={model.shift_range} must be 0 or more")
        elif 2 * model.shift_range + 1 > model.memory_n:
            problems.append(
                f"model.shift_range={model.shift_range} needs model.memory_n >= {2 * model.shift_range + 1}"
            )
    return problems


def memory_fit(model: Any, demand: MemoryDemand) -> tuple[list[str], list[str]]:
    """Whether a task's episodes fit a model's memory: (problems, warnings).

    A problem: fewer numbers in memory than values to hold (one number per bit at the least).
    A warning: fewer locations than vectors (the one-vector-per-location
    scheme the paper's NTM and DNC learn cannot work; they are likely to fail).
    Sizes must be positive (``validate_train`` checks them first).
    """
    if "memory_n" not in model:
        return [], []
    n, m = model.memory_n, model.memory_m
    holds = f"up to {demand.vectors} vectors of {demand.size} values ({demand.because})"
    if n * m < demand.vectors * demand.size:
        need = -(-demand.vectors * demand.size // m)
        return [
            f"model.memory_n={n} x model.memory_m={m} is {n * m} numbers, too few to hold {holds}, "
            f"{demand.vectors * demand.size} in all; use model.memory_n={max(need, demand.vectors)} or more"
        ], []
    if n < demand.vectors:
        return [], [
            f"model.memory_n={n} locations for {holds}: likely to fail, since the model stores one vector "
            f"per location; use model.memory_n={demand.vectors} or more"
        ]
    return [], []


def validate_train(cfg: DictConfig | TrainCommandConfig) -> list[str]:
    """Raises ConfigError naming every out-of-range or inconsistent value at once; returns warnings."""
    p: list[str] = []
    warnings: list[str] = []
    _check_choice(p, "task", cfg.task.name, TASK_NAMES)
    _check_choice(p, "model", cfg.model.name, MODEL_NAMES)
    _check_choice(p, "controller", cfg.controller.name, CONTROLLER_NAMES)
    _check_choice(p, "optimizer", cfg.optimizer.name, OPTIMIZER_NAMES)
    if cfg.task.name in TASK_NAMES:
        p += _task_problems(cfg.task)
    if cfg.model.name in MODEL_NAMES:
        p += _model_problems(cfg.model)
    if not p:
        fields = {k: v for k, v in cfg.task.items() if k != "name"}
        problems, warnings = memory_fit(cfg.model, TASKS[cfg.task.name](**fields).memory_demand)
        p += problems
    if cfg.model.name == "lstm" and cfg.controller.name != "lstm":
        p.append(f"controller={cfg.controller.name} does not apply to model=lstm, which has no controller; drop it")
    _check_positive(p, cfg.controller, "controller", ("hidden_size", "layers"))
    _check_positive(p, cfg.optimizer, "optimizer", ("lr", "eps"))
    plateau = cfg.optimizer.plateau
    if plateau.factor is not None and not 0 < plateau.factor < 1:
        p.append(f"optimizer.plateau.factor={plateau.factor} must be between 0 and 1 (or null: a constant lr)")
    if plateau.patience < 0:
        p.append(f"optimizer.plateau.patience={plateau.patience} must be 0 or more")
    if not 0 <= plateau.threshold < 1:
        p.append(f"optimizer.plateau.threshold={plateau.threshold} must be 0 or more and under 1")
    if plateau.min_lr < 0:
        p.append(f"optimizer.plateau.min_lr={plateau.min_lr} must be 0 or more")
    _check_positive(
        p,
        cfg.train,
        "train",
        (
            "steps",
            "batch_size",
            "checkpoint_every",
            "eval_every",
            "log_every",
            "val_sequences",
            "max_bad_steps",
            "compile_steps",
        ),
    )
    _check_positive(p, cfg.train, "train", ("clip_grad_norm", "clip_grad_value", "max_seconds"))
    if cfg.train.target_bit_errors is not None and cfg.train.target_bit_errors < 0:
        p.append(f"train.target_bit_errors={cfg.train.target_bit_errors} must be 0 or more (or null)")
    c = cfg.train.curriculum
    if not 0 <= c.start <= 1:
        p.append(f"train.curriculum.start={c.start} must be between 0 and 1")
    if not 0 < c.step <= 1:
        p.append(f"train.curriculum.step={c.step} must be greater than 0 and at most 1")
    if c.threshold < 0:
        p.append(f"train.curriculum.threshold={c.threshold} must be 0 or more")
    if cfg.train.keep_checkpoints < 0:
        p.append(f"train.keep_checkpoints={cfg.train.keep_checkpoints} must be 0 or more")
    p += _device_problems(cfg.device) + _eval_problems(cfg.eval)
    _raise(p)
    return warnings


def validate_eval(cfg: DictConfig | EvalCommandConfig) -> None:
    """Raises ConfigError naming every invalid evaluation setting at once."""
    problems = _device_problems(cfg.device) + _eval_problems(cfg.eval)
    if OmegaConf.is_missing(cfg, "checkpoint"):
        problems.insert(0, "checkpoint is required: ntm eval checkpoint=PATH (a .pt file written by ntm train)")
    _raise(problems)


def typed_train_config(data: dict[str, Any]) -> DictConfig:
    """A typed training config from plain data (a composed config or a checkpoint's).

    Raises ConfigError for an unknown task and OmegaConf errors for unknown
    keys or wrong types.
    """
    data = dict(data)
    task = dict(data.pop("task", None) or {"name": "copy"})
    name = task.get("name", "copy")
    if name not in TASK_NAMES:
        raise ConfigError(f"task={name} is not known; use one of: {', '.join(TASK_NAMES)}")
    model = dict(data.pop("model", None) or {"name": "ntm"})
    model_name = model.get("name", "ntm")
    if model_name not in MODEL_NAMES:
        raise ConfigError(f"model={model_name} is not known; use one of: {', '.join(MODEL_NAMES)}")
    cfg = OmegaConf.merge(OmegaConf.structured(TrainCommandConfig), data)
    cfg.task = OmegaConf.merge(OmegaConf.structured(task_schema(name)), task)
    cfg.model = OmegaConf.merge(OmegaConf.structured(MODEL_SCHEMAS[model_name]), model)
    return cfg

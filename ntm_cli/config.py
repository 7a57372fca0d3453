"""The typed configs of ``ntm train`` and ``ntm eval``: schemas, their registration, composition and validation.

Every default lives in one place: the run-level schemas below, and the
model, task, controller, optimizer and device schemas beside their code.
``register_configs`` puts them in Hydra's ConfigStore (the ``conf/`` YAML files
only choose options and state what a task or preset changes), ``typed_train``
turns composed data into these dataclasses, and ``validate_train`` checks
every range at once, before anything runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ntm_cli import metrics, plugins
from ntm_cli.checks import choice, positive
from ntm_cli.device import DeviceConfig
from ntm_cli.errors import ConfigError
from ntm_cli.models import model_spec, spec_of
from ntm_cli.models.controllers import ControllerConfig
from ntm_cli.optim import OPTIMIZERS, OptimizerConfig
from ntm_cli.tasks import build_task, task_schema


@dataclass
class CurriculumConfig:
    """Grow the task's ranges from their small end as training learns them (ntm_cli/curriculum.py).

    Attributes:
        enabled: train on the small end of the task's size ranges first
        start: level at the start (0: every range at its minimum; 1: the task as configured)
        step: added to the level each time the training bit errors reach the threshold
        threshold: mean training bit errors per sequence over one logging interval
        full_share: the share of steps, drawn at random, whose batch comes from the full ranges while the level is
            under 1 (the level advances on the other steps' bit errors); 0: every batch at the level
    """

    enabled: bool = False
    start: float = 0.0
    step: float = 0.1
    threshold: float = 0.1
    full_share: float = 0.0

    def problems(self) -> list[str]:
        out = []
        if not 0 <= self.start <= 1:
            out.append(f"train.curriculum.start={self.start} must be between 0 and 1")
        if not 0 < self.step <= 1:
            out.append(f"train.curriculum.step={self.step} must be greater than 0 and at most 1")
        if self.threshold < 0:
            out.append(f"train.curriculum.threshold={self.threshold} must be 0 or more")
        if not 0 <= self.full_share < 1:
            out.append(f"train.curriculum.full_share={self.full_share} must be 0 or more and under 1")
        return out


@dataclass
class LoopConfig:
    """The training loop.

    Attributes:
        steps: optimizer steps to train in all
        batch_size: sequences per step
        checkpoint_every: steps between periodic checkpoints
        eval_every: steps between validations; null: every 1,600 sequences, at least 100 steps apart (batch 16: 100;
            batch 1: 1,600), so that validating costs a small share of training at any batch size
        log_every: steps between training logs (TensorBoard, progress bar)
        target_bit_errors: stop once validation bit errors per sequence are at or below this (validated every
            eval_every steps, and at a log step whose training batches reach it); null never stops early
        val_sequences: sequences of the fixed validation set
        clip_grad_norm: clip the gradient's global norm to this; null: no norm clipping
        clip_grad_value: clip each gradient element to +-this (the paper: 10); null: no elementwise clipping
        max_seconds: stop, after a last validation, once training has run this many seconds; null: no limit
        keep_checkpoints: periodic checkpoints (step_NNNNNNN.pt) kept besides last.pt and best.pt
        compile: compile the model's time step with torch.compile (needs a C++ compiler on the CPU); null: ntm
            decides (compiled when the step is in the compile cache or the run is long, docs/speed.md)
        compile_steps: time steps per call of the compiled step; sequences are padded to a multiple of it
        max_bad_steps: stop once this many steps in a row had a non-finite loss or gradient (each is skipped)
        figures_every: validations between memory figures in TensorBoard (the image memory/episode: the first
            validation sequence, drawn as ntm eval eval.figures=true draws it; ntm and dnc models, with matplotlib):
            one at each validation at a multiple of figures_every x eval_every steps; 0: none. A figure takes
            1-3 s of CPU time to draw
        curriculum: an adaptive curriculum over the task's size ranges
        resume: auto: a run directory holding a checkpoint of this config (a requeued or re-run job) carries
            on from it, one holding another config's is refused; never: the run directory must hold no run
    """

    steps: int = 10_000
    batch_size: int = 16
    checkpoint_every: int = 500
    eval_every: int | None = None
    log_every: int = 20
    target_bit_errors: float | None = 0.01
    val_sequences: int = 1000
    clip_grad_norm: float | None = 10.0
    clip_grad_value: float | None = None
    max_seconds: float | None = None
    keep_checkpoints: int = 3
    compile: bool | None = None
    compile_steps: int = 1
    max_bad_steps: int = 50
    figures_every: int = 10
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    resume: str = "auto"

    def validation_every(self) -> int:
        """The steps between validations: ``eval_every``, or what null stands for at this batch size."""
        return self.eval_every if self.eval_every is not None else max(100, 1600 // self.batch_size)

    def problems(self) -> list[str]:
        numbers = [
            f.name for f in dataclasses.fields(self) if f.name not in ("keep_checkpoints", "figures_every", "resume")
        ]
        out = positive(self, "train", numbers) + choice("train.resume", self.resume, ("auto", "never"))
        if self.target_bit_errors is not None and self.target_bit_errors < 0:
            out.append(f"train.target_bit_errors={self.target_bit_errors} must be 0 or more (or null)")
        if self.keep_checkpoints < 0:
            out.append(f"train.keep_checkpoints={self.keep_checkpoints} must be 0 or more")
        if self.figures_every < 0:
            out.append(f"train.figures_every={self.figures_every} must be 0 or more (0: no figures)")
        return out + self.curriculum.problems()


@dataclass
class EvalSettings:
    """What ``ntm eval`` (and a run's default protocol) evaluates.

    Attributes:
        lengths: the sizes to evaluate (copy: lengths; repeat_copy: lengths, with eval.repeats;
            associative_recall: numbers of items; priority_sort: numbers of inputs), as a list such as
            [10,20]; null: the task's generalisation protocol
        repeats: repeat_copy's numbers of repeats, as a list; null: the protocol's
        num_sequences: sequences per row
        batch_size: sequences per batch
        memory_n: evaluate a memory model with this many locations instead of its own; null: its own
        figures: ntm eval draws the first sequence of each row, with an ntm's or dnc's memory and head weightings
            over time (the paper's Figures 6, 9, 12, 13), into figures/ROW.png beside eval.json (needs matplotlib)
    """

    lengths: list[int] | None = None
    repeats: list[int] | None = None
    num_sequences: int = 1000
    batch_size: int = 500
    memory_n: int | None = None
    figures: bool = False

    def problems(self) -> list[str]:
        out = positive(self, "eval", ("num_sequences", "batch_size", "memory_n"))
        if self.lengths is not None and len(self.lengths) == 0:
            out.append("eval.lengths=[] is empty; give sizes such as eval.lengths=[10,20], or null for the protocol")
        for key in ("lengths", "repeats"):
            out += [
                f"eval.{key} has {n}; every value must be greater than 0" for n in getattr(self, key) or [] if n <= 0
            ]
        return out


@dataclass
class TrainConfig:
    """``ntm train``: one run.

    Attributes:
        seed: every random draw of the run (initial weights, data) follows from it
        objective: what a sweep optimises, from metrics.json (lower is better): validation.NAME or best.NAME
            for a metric NAME, or steps, sequences, wall_seconds, solved_at_seconds, solved_at_sequences
        task: the task (task=NAME) and its sizes
        model: the model (model=NAME) and its sizes
        controller: the memory models' controller
        optimizer: the optimizer and its schedule
        device: where the run computes
        train: the training loop
        eval: what a run's evaluation covers
    """

    seed: int = 0
    objective: str = "validation.cost_bits_per_sequence"
    task: Any = MISSING
    model: Any = MISSING
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    eval: EvalSettings = field(default_factory=EvalSettings)


@dataclass
class EvalConfig:
    """``ntm eval``: a checkpoint on fresh sequences.

    Attributes:
        checkpoint: a checkpoint file written by ntm train, or a run directory (its checkpoints/best.pt)
        seed: the evaluation sequences follow from it
        device: where the evaluation computes
        eval: what to evaluate
    """

    checkpoint: str = MISSING
    seed: int = 0
    device: DeviceConfig = field(default_factory=DeviceConfig)
    eval: EvalSettings = field(default_factory=EvalSettings)


# -- typed configs --------------------------------------------------------------------------------------------------


def _typed_node(schema: type, data: Any, where: str) -> Any:
    try:
        return OmegaConf.merge(OmegaConf.structured(schema), data)
    except OmegaConfBaseException as ex:
        raise ConfigError(type_problem(ex, where)) from None


def type_problem(ex: OmegaConfBaseException, where: str = "") -> str:
    """An OmegaConf type or key error as one line, with the syntax a list takes."""
    first = str(ex).strip().splitlines()[0]
    key = getattr(ex, "full_key", None)
    key = f"{where}.{key}" if where and key else key or where
    if "not in struct" in str(ex) or "Key '" in first and "not in" in first:
        return f"unknown key '{key}'; see the keys with `ntm train --help` and fix its spelling"
    hint = "give a value of the type `ntm train --help` shows"
    if key and key.rsplit(".", 1)[-1] in ("lengths", "repeats", "betas"):
        hint = f"give a list, such as {key}=[10,20]"
    return f"{first}" + (f" (key {key})" if key else "") + f"; {hint}"


def _without_hydra(data: dict[str, Any] | DictConfig, resolve: bool) -> dict[str, Any]:
    """Plain data without Hydra's own node (which only resolves inside a running Hydra job)."""
    if isinstance(data, DictConfig):
        data = OmegaConf.masked_copy(data, [k for k in data if k != "hydra"])
        return OmegaConf.to_container(data, resolve=resolve)
    return {k: v for k, v in data.items() if k != "hydra"}


def _target(node: dict[str, Any]) -> str | None:
    """A custom option's ``_target_``, None where it is not given (``???``)."""
    target = node.get("_target_")
    return None if target in (None, MISSING) else target


def typed_train(data: dict[str, Any] | DictConfig) -> TrainConfig:
    """A typed ``TrainConfig`` from plain or composed data (a command line's, or a checkpoint's)."""
    data = _without_hydra(data, resolve=True)
    data.pop("resume", None)  # older checkpoints had it
    task = dict(data.pop("task", None) or {"name": "copy"})
    model = dict(data.pop("model", None) or {"name": "ntm"})
    root = _typed_node(TrainConfig, {}, "")
    root.task = _typed_node(task_schema(task.get("name", "copy"), _target(task)), task, "task")
    root.model = _typed_node(model_spec(model.get("name", "ntm"), _target(model)).config, model, "model")
    root = _typed_node(root, data, "")
    try:
        return OmegaConf.to_object(root)
    except OmegaConfBaseException as ex:
        raise ConfigError(type_problem(ex)) from None


def typed_eval(data: dict[str, Any] | DictConfig) -> EvalConfig:
    """A typed ``EvalConfig`` from composed data."""
    root = _typed_node(EvalConfig, _without_hydra(data, resolve=False), "")
    if OmegaConf.is_missing(root, "checkpoint"):
        raise ConfigError("checkpoint is required: ntm eval checkpoint=PATH (a checkpoint or a run directory)")
    return OmegaConf.to_object(root)


def format_value(value: object) -> str:
    """A value as it is written on the command line: null, true, [10,20]."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return str(value)


def plain(cfg: object) -> dict[str, Any]:
    """A typed config as plain data (what checkpoints store)."""
    return dataclasses.asdict(cfg)


# -- validation -----------------------------------------------------------------------------------------------------


def memory_fit(model: object, demand: Any) -> tuple[list[str], list[str]]:
    """Whether a task's episodes fit a model's memory: (problems, warnings).

    A problem: fewer numbers in memory than values to hold (one number per bit at the least).
    A warning: fewer locations than vectors (the one-vector-per-location scheme the
    paper's NTM and DNC learn cannot work; they are likely to fail).
    """
    n, m = getattr(model, "memory_n", None), getattr(model, "memory_m", None)
    if demand is None or n is None or m is None:
        return [], []
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


_OBJECTIVE_KEYS = ("steps", "sequences", "wall_seconds", "solved_at_seconds", "solved_at_sequences", "solved_at_step")


def objective_problems(objective: str) -> list[str]:
    """An objective must name a figure of metrics.json."""
    section, _, name = objective.partition(".")
    if objective in _OBJECTIVE_KEYS or (section in ("validation", "best") and name in metrics.BY_NAME):
        return []
    names = ", ".join(m.name for m in metrics.METRICS if metrics.VALIDATION in m.phases)
    return [f"objective={objective} is not a figure of metrics.json; use validation.NAME or best.NAME ({names})"]


def validate_train(cfg: TrainConfig) -> list[str]:
    """Raises ConfigError naming every out-of-range or inconsistent value at once; returns warnings."""
    spec = spec_of(cfg.model)
    task = build_task(cfg.task)
    problems = task.problems() + cfg.model.problems() + cfg.optimizer.problems() + cfg.optimizer.plateau.problems()
    problems += cfg.device.problems() + cfg.train.problems() + cfg.eval.problems() + objective_problems(cfg.objective)
    if spec.controller:
        problems += cfg.controller.problems()
    elif cfg.controller.name != ControllerConfig.name:
        problems.append(f"controller={cfg.controller.name} does not apply to model={cfg.model.name}; drop it")
    warnings: list[str] = []
    if not problems:
        fit, warnings = memory_fit(cfg.model, task.memory_demand)
        problems += fit
    if problems:
        raise ConfigError("; ".join(problems))
    return warnings


def validate_eval(cfg: EvalConfig) -> None:
    """Raises ConfigError naming every invalid evaluation setting at once."""
    problems = cfg.device.problems() + cfg.eval.problems()
    if problems:
        raise ConfigError("; ".join(problems))


def changed_settings(cfg: TrainConfig) -> list[str]:
    """``key=value`` for every setting that differs from its option's default (from a task config, a preset,
    the command line): the run says what it changed, never silently."""
    out: list[str] = []

    def walk(value: Any, default: Any, prefix: str) -> None:
        if dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name), getattr(default, f.name), f"{prefix}{f.name}.")
        elif value != default:
            out.append(f"{prefix[:-1]}={format_value(value)}")

    defaults = TrainConfig(
        task=type(cfg.task)(),
        model=type(cfg.model)(),
        optimizer=OPTIMIZERS[cfg.optimizer.name][0],
        controller=type(cfg.controller)(name=cfg.controller.name),
        device=type(cfg.device)(name=cfg.device.name),
    )
    walk(cfg, defaults, "")
    return out


def objective_value(result: dict[str, Any], key: str) -> float | None:
    """The figure of metrics.json that ``objective`` names (None where the run has none, e.g. unsolved)."""
    section, _, name = key.partition(".")
    value = result.get(section, {}) if name else result.get(key)
    if name:
        value = (value or {}).get(name)
    return None if value is None else float(value)


def keys(cfg: object, prefix: str = "") -> list[tuple[str, object, str]]:
    """(key, value, description) of every leaf of a typed config, nested ones included, for ``--help`` and docs."""
    helps = plugins.field_help(type(cfg))
    out: list[tuple[str, object, str]] = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out += keys(value, f"{prefix}{f.name}.")
        else:
            out.append((f"{prefix}{f.name}", value, helps.get(f.name, "")))
    return out

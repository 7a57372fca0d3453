"""``train(cfg) -> RunResult``: one training run, in-process; it never exits the process.

The data flows one way: the typed config -> the task -> the model, optimizer
and data stream (``setup``) -> training steps (``ntm_cli.step``) -> metrics
by name (``ntm_cli.metrics``, sent to ``ntm_cli.sinks``) -> checkpoints and
``metrics.json``. A stop by SIGINT or SIGTERM ends the run after its step,
with a checkpoint, and comes back as ``RunResult.status == "stopped"``.

    from ntm_cli import compose, train
    result = train(compose("train", ["experiment=debug"]), run_dir="runs/try")
    result.metrics["validation"]
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ntm_cli import checkpoint, compiling, curriculum, device, figures, metrics, resume, rundir
from ntm_cli.config import TrainConfig, changed_settings, objective_value, plain, typed_train, validate_train
from ntm_cli.errors import DivergedError
from ntm_cli.models import ModelSpec, spec_of
from ntm_cli.optim import build_optimizer, build_scheduler
from ntm_cli.signals import EXIT_CODES, stop_requests
from ntm_cli.sinks import Sinks, has_memory, trace_heads, write_hparams
from ntm_cli.step import TrainStep, compiled_step
from ntm_cli.tasks import Task, build_task
from ntm_cli.tasks.base import Batch, data_generator

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """How far a run has come; saved in every checkpoint under these names."""

    step: int = 0
    sequences: int = 0
    wall_seconds: float = 0.0
    validation: dict[str, float] | None = None  # the last validation: step and each metric
    best: dict[str, float] | None = None  # the validation best.pt holds
    solved: dict[str, float] | None = None  # step, sequences and seconds when the target was first reached
    curriculum_level: float = 1.0
    compile_seconds: float = 0.0  # spent compiling the time step, not counted against train.max_seconds
    skipped_steps: int = 0
    bad_steps_in_a_row: int = 0
    ended_by: str | None = None  # steps, target, time, SIGINT, SIGTERM, SIGUSR2 or non-finite

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> Progress:
        return cls(**{f.name: ckpt[f.name] for f in dataclasses.fields(cls) if f.name in ckpt})


@dataclass
class RunResult:
    """What a run came to. status: done (it ended by its steps, target or time budget) or stopped (by a signal)."""

    run_dir: Path
    status: str
    metrics: dict[str, Any]
    objective: float | None
    stop_signal: str | None = None


@dataclass
class Parts:
    """What ``setup`` builds from a config."""

    task: Task
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    data: torch.Generator
    step: TrainStep
    step_key: str  # the compile cache's name for this step
    compile_note: str  # whether the step is compiled, and why


def setup(cfg: TrainConfig, spec: ModelSpec, task: Task, dev: torch.device) -> Parts:
    """Seeds torch, then builds the model, the optimizer, its schedule, the data stream and the step."""
    torch.manual_seed(cfg.seed)
    model = spec.build(cfg.model, cfg.controller, task.input_size, task.output_size).to(dev)
    optimizer = build_optimizer(cfg.optimizer, model.parameters())
    key = compiling.step_key(cfg, task.input_size, task.output_size, dev)
    compile_, why = compiling.decide(cfg, model.stepwise, key)
    cfg.train.compile = compile_  # the run's record (and a resume) say what was decided
    step_fn = None
    if compile_:
        compiling.use_cache()
        step_fn = compiled_step(model.step, cfg.train.compile_steps, dev)
    t = cfg.train
    step = TrainStep(
        model, optimizer, task, dev, clip_grad_norm=t.clip_grad_norm, clip_grad_value=t.clip_grad_value, step_fn=step_fn
    )
    scheduler = build_scheduler(cfg.optimizer, optimizer)
    note = f"train.compile={str(compile_).lower()}: {why}"
    return Parts(task, model, optimizer, scheduler, data_generator(cfg.seed, "train"), step, key, note)


def restore(parts: Parts, ckpt: dict[str, Any], source: object) -> Progress:
    """Takes up a checkpoint's state: weights, optimizer, schedule, every random state; returns its progress."""
    checkpoint.load_weights(parts.model, ckpt["model"], source)
    try:
        parts.optimizer.load_state_dict(ckpt["optimizer"])
    except (RuntimeError, ValueError, KeyError) as ex:
        raise checkpoint.misfit(source, ex) from None
    if parts.scheduler is not None and ckpt.get("scheduler") is not None:
        parts.scheduler.load_state_dict(ckpt["scheduler"])
    parts.data.set_state(ckpt["rng"]["data"])
    checkpoint.set_rng_state(ckpt["rng"])
    progress = Progress.from_checkpoint(ckpt)
    parts.step.bad_in_a_row.fill_(progress.bad_steps_in_a_row)
    return progress


def memory_needed(cfg: TrainConfig, spec: ModelSpec, task: Task) -> int:
    """A low estimate of the bytes training needs (the longer of 16 sampled episodes sets the time steps)."""
    if spec.sizes is None:  # a user's model: nothing known before it is built
        return 0
    parameters, state = spec.sizes(cfg.model, cfg.controller, task.input_size, task.output_size)
    state_bytes = 4 * state
    time_steps = task.sample(16, torch.Generator().manual_seed(0)).inputs.shape[0]
    train = device.training_bytes(parameters, state_bytes, cfg.train.batch_size, time_steps)
    return max(train, device.inference_bytes(parameters, state_bytes, cfg.eval.batch_size))


def lower_hint(cfg: TrainConfig) -> str:
    """The keys that set a run's memory, as the fix for a run that does not fit."""
    keys = [f"train.batch_size={cfg.train.batch_size}"]
    if hasattr(cfg.model, "memory_n"):
        keys.append(f"model.memory_n={cfg.model.memory_n}")
    return " or ".join(keys) + f" (or eval.batch_size={cfg.eval.batch_size} for validation)"


def prepare(
    cfg: TrainConfig | dict | Any,
    run_dir: str | Path | None = None,
    *,
    checkpoint_state: dict[str, Any] | None = None,
    jobs: int = 1,
) -> Run:
    """Every check of a run, and its parts built, before anything is written: ``train``'s first half.

    ``jobs``: runs training at once on this machine's cores (a parallel sweep's n_jobs); ntm's thread
    choice keeps to this run's share. Raises NtmError subclasses for a config, run directory, checkpoint
    or memory size that cannot be used.
    """
    # A copy: setup records in it what ntm decided (train.compile), and the caller's config stays as given.
    cfg = copy.deepcopy(cfg) if isinstance(cfg, TrainConfig) else typed_train(cfg)
    warnings = validate_train(cfg)
    run_dir = Path(run_dir) if run_dir is not None else rundir.default("train")
    if checkpoint_state is None:
        checkpoint_state = resume.in_place(cfg, run_dir)
    share = max(1, device.cores() // jobs) if jobs > 1 else None
    warnings += [w for w in [device.oversubscribed(cfg.device, share, jobs)] if w]
    dev = device.resolve_device(cfg.device, cfg.train.batch_size, share)
    spec = spec_of(cfg.model)
    task = build_task(cfg.task)
    device.check_fits(memory_needed(cfg, spec, task), dev, "this run", lower_hint(cfg))
    changed = changed_settings(cfg)  # before setup resolves what the config leaves to ntm
    with device.out_of_memory_as_error(lower_hint(cfg)):
        parts = setup(cfg, spec, task, dev)
    progress = Progress(curriculum_level=cfg.train.curriculum.start if _curriculum_on(cfg, task) else 1.0)
    if checkpoint_state is not None:
        progress = restore(parts, checkpoint_state, run_dir / "checkpoints" / "last.pt")
    notes = [f"settings beyond the defaults: {', '.join(changed) if changed else 'none'}", parts.compile_note]
    return Run(cfg, spec, parts, progress, run_dir, dev, warnings, notes, resumed=checkpoint_state is not None)


def train(
    cfg: TrainConfig | dict | Any,
    run_dir: str | Path | None = None,
    *,
    progress: bool = False,
    checkpoint_state: dict[str, Any] | None = None,
) -> RunResult:
    """Trains as ``cfg`` says, writing everything to ``run_dir``; returns the run's result.

    ``cfg``: a ``TrainConfig``, or data composed by ``ntm_cli.compose``. ``run_dir``: default
    outputs/train/DATE/TIME. ``progress``: show a progress bar. ``checkpoint_state``: a loaded
    checkpoint of this run to continue from (``ntm_cli.resume.resolve`` gives it). Raises
    NtmError subclasses for bad input (before anything is written), and for a run that
    diverges or runs out of memory.
    """
    return prepare(cfg, run_dir, checkpoint_state=checkpoint_state).run(progress)


@functools.cache
def _can_draw() -> bool:
    """Whether matplotlib is there to draw the memory figures; says once, in the debug log, where it is not."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        log.debug("no memory figures in TensorBoard: matplotlib is not installed (%s)", figures.INSTALL_HINT)
        return False
    return True


def _curriculum_on(cfg: TrainConfig, task: Task) -> bool:
    return cfg.train.curriculum.enabled and bool(curriculum.ranges(task))


class Run:
    """One run, prepared: its config, parts and progress, and where it writes. ``run`` trains it."""

    def __init__(
        self,
        cfg: TrainConfig,
        spec: ModelSpec,
        parts: Parts,
        progress: Progress,
        run_dir: Path,
        dev: torch.device,
        warnings: list[str],
        notes: list[str],
        resumed: bool,
    ) -> None:
        self.cfg, self.spec, self.parts, self.progress = cfg, spec, parts, progress
        self.run_dir, self.device, self.warnings, self.notes, self.resumed = run_dir, dev, warnings, notes, resumed
        self.checkpoints = checkpoint.Checkpointer(run_dir / "checkpoints", cfg.train.keep_checkpoints)
        self.parameters = sum(p.numel() for p in parts.model.parameters() if p.requires_grad)
        self.episode: Batch | None = None  # the validation episode TensorBoard shows the memory of

    def run(self, show_progress: bool = False) -> RunResult:
        """Trains until the steps, the target, the time budget or a signal end the run."""
        with (
            rundir.log_file(self.run_dir / "train.log"),
            stop_requests("this step") as stop,
            device.out_of_memory_as_error(lower_hint(self.cfg)),
        ):
            for warning in self.warnings:
                log.warning(warning)
            return self._loop(show_progress, stop)

    def _loop(self, show_progress: bool, stop: Any) -> RunResult:
        cfg, t, p, parts, resumed = self.cfg, self.cfg.train, self.progress, self.parts, self.resumed
        for leftover in checkpoint.remove_temporaries(self.run_dir / "checkpoints") + checkpoint.remove_temporaries(
            self.run_dir
        ):
            log.info("removed %s, left by a run killed while writing it", leftover)
        controller = f" controller={cfg.controller.name}" if self.spec.controller else ""
        log.info(
            "task=%s model=%s%s: %d parameters, device %s%s, run dir %s",
            cfg.task.name,
            cfg.model.name,
            controller,
            self.parameters,
            self.device,
            f" ({torch.get_num_threads()} thread(s))" if self.device.type == "cpu" else "",
            self.run_dir,
        )
        for note in self.notes:
            log.info(note)
        if resumed:
            log.info("resumed at step %d (%d sequences, %.1f s so far)", p.step, p.sequences, p.wall_seconds)
        sinks = Sinks(self.run_dir, t.steps, p.step, show_progress, p.step if resumed else None)
        sums = metrics.TrainSums(parts.step.sequence_metrics, self.device)
        # With train.curriculum.full_share, the curriculum advances on the steps at its level only.
        mixed = t.curriculum.full_share > 0
        level_sums = metrics.TrainSums(parts.step.sequence_metrics, self.device)
        logged_at, logged_sequences = time.perf_counter(), p.sequences
        started = time.perf_counter() - p.wall_seconds
        compiled = False
        try:
            while p.step < t.steps:
                if stop.name is not None:
                    p.ended_by = stop.name
                    break
                compiling_now = parts.step.step_fn is not None and not compiled
                if compiling_now:
                    cached = compiling.is_cached(parts.step_key)
                    log.info(
                        "compiling the time step (%d time step(s) per call)%s; not counted in train.max_seconds",
                        t.compile_steps,
                        ", from the cache" if cached else ": the first time for this step, 20-90 s",
                    )
                    began = time.perf_counter()
                full = curriculum.full_batch(t.curriculum.full_share, p.curriculum_level, parts.data)
                overrides = {} if full else curriculum.overrides(parts.task, p.curriculum_level)
                result = parts.step(parts.task.sample(t.batch_size, parts.data, **overrides))
                sums.add(result)
                if mixed and not full and p.curriculum_level < 1.0:
                    level_sums.add(result)
                if compiling_now:
                    seconds = time.perf_counter() - began
                    p.compile_seconds += seconds
                    compiled = True
                    compiling.note_compiled(parts.step_key, seconds, f"{cfg.model.name}, batch {t.batch_size}")
                    log.info("compiled the time step in %.1f s (cache: %s)", seconds, compiling.cache_dir())
                p.step += 1
                p.sequences += t.batch_size
                sinks.step()
                check_target = False
                if p.step % t.log_every == 0:
                    self.check_bad_steps()
                    now = time.perf_counter()
                    values = sums.read(t.batch_size)
                    values["lr"] = parts.optimizer.param_groups[0]["lr"]
                    values["sequences_per_second"] = (p.sequences - logged_sequences) / (now - logged_at)
                    values["skipped_steps"] = p.skipped_steps
                    if p.curriculum_level < 1.0:
                        values["curriculum_level"] = p.curriculum_level
                    sinks.write(metrics.TRAIN, p.step, values)
                    if p.curriculum_level < 1.0:
                        at_level = level_sums.read(t.batch_size) if mixed else values
                        self.advance_curriculum(at_level["bit_errors_per_sequence"])
                    check_target = self.may_have_reached_target(values["bit_errors_per_sequence"])
                    logged_at, logged_sequences = now, p.sequences
                p.wall_seconds = time.perf_counter() - started
                out_of_time = t.max_seconds is not None and p.wall_seconds - p.compile_seconds >= t.max_seconds
                if p.step % t.validation_every() == 0 or p.step == t.steps or out_of_time or check_target:
                    if self.validate(sinks):
                        p.ended_by = "target"
                        break
                    if out_of_time:
                        p.ended_by = "time"
                        break
                if p.step % t.checkpoint_every == 0:
                    self.save(["last.pt", self.checkpoints.periodic(p.step)], sinks)
            else:
                p.ended_by = "steps"
        except DivergedError as ex:
            sinks.close()
            self.finish("diverged", error=str(ex))
            raise
        sinks.close()
        p.wall_seconds = time.perf_counter() - started
        self.save(["last.pt"], None)
        stopped = p.ended_by in EXIT_CODES
        result = self.finish("stopped" if stopped else "done")
        if stopped:
            log.warning(
                "stopped by %s at step %d and saved %s; continue with: ntm train resume=%s",
                p.ended_by,
                p.step,
                self.run_dir / "checkpoints" / "last.pt",
                self.run_dir,
            )
        else:
            v = p.validation or {}
            log.info(
                "stopped at step %d (%d sequences, %.1f s; ended by %s): validation %s%s",
                p.step,
                p.sequences,
                p.wall_seconds,
                p.ended_by,
                metrics.format_values({k: x for k, x in v.items() if k != "step"}) or "none",
                f"; solved at step {p.solved['step']}" if p.solved else "",
            )
            log.info("run folder %s; evaluate it with: ntm eval checkpoint=%s", self.run_dir, self.run_dir)
        return result

    def finish(self, status: str, error: str | None = None) -> RunResult:
        """Writes metrics.json and returns the result."""
        p = self.progress
        out: dict[str, Any] = {"status": status, "ended_by": p.ended_by}
        if error is not None:
            out["error"] = error
        out |= {
            "steps": p.step,
            "sequences": p.sequences,
            "wall_seconds": round(p.wall_seconds, 3),
            "compile_seconds": round(p.compile_seconds, 3),
            "parameters": self.parameters,
            "validation": p.validation,
            "best": p.best,
            "curriculum_level": p.curriculum_level,
            "skipped_steps": p.skipped_steps,
        }
        if p.solved is not None:
            out.update({f"solved_at_{k}": v for k, v in p.solved.items()})
        rundir.write_json(self.run_dir / "metrics.json", out)
        if status != "running":  # at the end only: nothing more between a validation and its step's checkpoint
            self.write_hparams(out, status)
        signal = p.ended_by if status == "stopped" else None
        return RunResult(self.run_dir, status, out, objective_value(out, self.cfg.objective), signal)

    def state(self) -> dict[str, Any]:
        parts = self.parts
        return {
            "config": plain(self.cfg),
            "model": parts.model.state_dict(),
            "optimizer": parts.optimizer.state_dict(),
            "scheduler": None if parts.scheduler is None else parts.scheduler.state_dict(),
            "rng": {"data": parts.data.get_state(), **checkpoint.rng_state()},
            **dataclasses.asdict(self.progress),
        }

    def save(self, names: list[str], sinks: Sinks | None) -> None:
        """Writes checkpoints ``names``; first flushes TensorBoard, so no event before a checkpoint is lost."""
        if sinks is not None:
            sinks.flush()
        self.check_bad_steps()  # the skipped-step count the checkpoint records is up to date
        self.checkpoints.save(self.state(), names)

    def check_bad_steps(self) -> None:
        """Reports the steps skipped since the last check; stops once train.max_bad_steps came in a row."""
        bad, in_a_row = self.parts.step.bad_steps()
        p = self.progress
        p.bad_steps_in_a_row = in_a_row
        if bad == 0:
            return
        p.skipped_steps += bad
        log.warning(
            "step %d: %d step(s) since the last check had a non-finite loss or gradient and were skipped "
            "(%d in a row now)",
            p.step,
            bad,
            in_a_row,
        )
        if in_a_row >= self.cfg.train.max_bad_steps:
            p.ended_by = "non-finite"
            last = self.run_dir / "checkpoints" / "last.pt"
            kept = f"; {last} holds the last good state" if last.exists() else ""
            raise DivergedError(
                f"stopped at step {p.step}: {in_a_row} steps in a row had a non-finite loss or gradient, "
                f"so none was applied{kept}; lower optimizer.lr or clip harder (train.clip_grad_norm) "
                "and start a new run"
            )

    def advance_curriculum(self, train_bit_errors: float) -> None:
        c, p = self.cfg.train.curriculum, self.progress
        level = curriculum.advance(p.curriculum_level, c.step, train_bit_errors, c.threshold)
        if level != p.curriculum_level:
            p.curriculum_level = level
            sizes = ", ".join(f"task.{k}={v}" for k, v in curriculum.overrides(self.parts.task, level).items())
            log.info("step %d: curriculum level %.2f: %s", p.step, level, sizes or "the full ranges")

    def may_have_reached_target(self, train_bit_errors: float) -> bool:
        """True when a logging interval's training batches reached the target on the full task: worth a validation
        now rather than at the next ``eval_every`` step, so that a run stops soon after it solves the task."""
        target = self.cfg.train.target_bit_errors
        return target is not None and self.progress.curriculum_level >= 1.0 and train_bit_errors <= target

    def validate(self, sinks: Sinks) -> bool:
        """Validates, logs, keeps the best checkpoint, steps the schedule; True when the target is reached."""
        cfg, t, p, parts = self.cfg, self.cfg.train, self.progress, self.parts
        generator = data_generator(cfg.seed, "validation")  # the same sequences every time
        values = metrics.measure(parts.model, parts.task, generator, t.val_sequences, cfg.eval.batch_size, self.device)
        p.validation = {"step": p.step, **values}
        self.show_memory(sinks)  # before the log line: the step's checkpoints follow that line as closely as before
        sinks.write(metrics.VALIDATION, p.step, values)
        # The schedule sees the validations every eval_every steps only, not the extra one at the end of a
        # run: a run stopped and resumed then follows the same learning rates as one that never stopped.
        # Under a curriculum it waits for level 1: until then validation measures sizes not yet trained on.
        if parts.scheduler is not None and p.step % t.validation_every() == 0 and p.curriculum_level >= 1.0:
            self.step_lr(values["cost_bits_per_sequence"])
        reached = t.target_bit_errors is not None and values["bit_errors_per_sequence"] <= t.target_bit_errors
        if reached and p.solved is None:
            p.solved = {"step": p.step, "sequences": p.sequences, "seconds": round(p.wall_seconds, 3)}
        # Ties (a solved task's 0 bit errors) go to the lower cost: the later, surer model.
        rank = (parts.task.best_by, "cost_bits_per_sequence")
        if p.best is None or [values[k] for k in rank] < [p.best[k] for k in rank]:
            p.best = dict(p.validation)
            self.save(["best.pt"], sinks)
        self.finish("running")  # a sweep's summary can show a run that is still going
        return reached

    def show_memory(self, sinks: Sinks) -> None:
        """An NTM's or DNC's memory at this validation, in TensorBoard, on the first validation sequence: the heads'
        gate and sharpening values (histograms, at every validation) and, at a multiple of train.figures_every x
        eval_every steps, the memory figure of ``ntm eval eval.figures=true`` (image memory/episode)."""
        cfg, t, step, model = self.cfg, self.cfg.train, self.progress.step, self.parts.model
        if not has_memory(model):
            return
        if self.episode is None:  # validate's first batch, from a generator of its own: no training draw changes
            first = self.parts.task.sample(
                min(cfg.eval.batch_size, t.val_sequences), data_generator(cfg.seed, "validation")
            )
            self.episode = figures.first_episode(first).to(self.device)
        # A random initial memory (model.memory_init=random) draws from the global random state: it is put back,
        # so that training draws the same numbers as without the memory view.
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            trace, heads = trace_heads(model, self.episode)
        image = None
        if t.figures_every and step % (t.figures_every * t.validation_every()) == 0 and _can_draw():
            title = f"{cfg.model.name} on {cfg.task.name}, step {step}: the first validation sequence"
            image = figures.render(trace, title)
        sinks.memory(step, heads, image)

    def write_hparams(self, out: dict[str, Any], status: str) -> None:
        """The run's settings beyond the defaults (and its task, model, seed, lr and batch size) with its final
        metrics, as in metrics.json ``out``, for TensorBoard's HParams tab (``sinks.write_hparams``)."""
        cfg = self.cfg
        settings: dict[str, Any] = {
            "task": cfg.task.name,
            "model": cfg.model.name,
            "seed": cfg.seed,
            "optimizer.lr": cfg.optimizer.lr,
            "train.batch_size": cfg.train.batch_size,
        }
        for setting in changed_settings(cfg):
            key = setting.partition("=")[0]
            settings[key] = functools.reduce(getattr, key.split("."), cfg)
        final = {f"{part}.{k}": v for part in ("validation", "best") for k, v in (out[part] or {}).items()}
        final |= {k: out[k] for k in ("steps", "solved_at_step") if k in out}
        write_hparams(self.run_dir / "tb", settings, final, status, self.progress.step)

    def step_lr(self, cost: float) -> None:
        """Feeds a validation cost to the plateau schedule; logs the learning rate when it falls."""
        optimizer = self.parts.optimizer
        before = optimizer.param_groups[0]["lr"]
        self.parts.scheduler.step(cost)
        after = optimizer.param_groups[0]["lr"]
        if after != before:
            patience = self.cfg.optimizer.plateau.patience
            log.info(
                "step %d: no improvement of the validation cost in %d validation(s); lr %.3g -> %.3g",
                self.progress.step,
                patience + 1,
                before,
                after,
            )

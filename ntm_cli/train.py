"""``ntm train``: the training loop, its logging, checkpoints and metrics."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import time
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ntm_cli import checkpoint, curriculum
from ntm_cli.config import ConfigError, typed_train_config, validate_train
from ntm_cli.evaluate import Metrics, measure
from ntm_cli.factory import (
    build_model,
    build_optimizer,
    build_scheduler,
    build_task,
    count_parameters,
    data_generator,
    load_states,
    resolve_device,
    skips_on_device,
)
from ntm_cli.models.recurrent import Chunked, StepFn, multi_step
from tasks import bit_errors, masked_bce_bits

log = logging.getLogger(__name__)


class DivergedError(ConfigError):
    """Training cannot go on (the loss keeps being non-finite); reported like bad input: one line, exit 2."""


class Trainer:
    """One training run in ``run_dir``: setup, the step loop, validation, saving."""

    def __init__(self, cfg: DictConfig, run_dir: Path, progress: bool = False, resume: dict | None = None) -> None:
        for warning in validate_train(cfg):
            log.warning(warning)
        self.cfg, self.run_dir, self.progress = cfg, run_dir, progress
        self.ckpt_dir = run_dir / "checkpoints"
        if resume is None and (self.ckpt_dir / "last.pt").exists():
            raise ConfigError(
                f"{run_dir} already holds a training run; continue it with `ntm train resume={run_dir}`, "
                "or give a new hydra.run.dir=PATH"
            )
        self.device = resolve_device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.task = build_task(cfg.task)
        self.model = build_model(cfg, self.task).to(self.device)
        self.optimizer = build_optimizer(cfg.optimizer, self.model.parameters())
        self.scheduler = build_scheduler(cfg.optimizer, self.optimizer)
        self.data = data_generator(cfg.seed, "train")
        # The compiled time step serves training only; validation runs the eager one,
        # so that its other batch sizes trigger no recompilation.
        self.step_fn = None
        if cfg.train.compile and self.model.stepwise:
            self.step_fn = compiled_step(self.model.step, cfg.train.compile_steps, self.device)
        elif cfg.train.compile:
            log.info(
                "train.compile: model=%s runs whole sequences in torch's own kernels; nothing to compile",
                cfg.model.name,
            )
        self.step = 0
        c = cfg.train.curriculum
        self.level = c.start if c.enabled and curriculum.ranges(self.task) else 1.0
        self.sequences = 0
        self.wall_seconds = 0.0
        self.best: dict | None = None
        self.solved: dict | None = None
        self.validation: Metrics | None = None
        self.resumed_at: int | None = None
        self.skipped = 0  # steps skipped for a non-finite loss or gradient, as of the last check_bad_steps
        # Counted on the device, so that the step needs no host sync: skipped since the last check, and in a row.
        self.skips_on_device = skips_on_device(self.optimizer)
        self.bad_steps = torch.zeros((), dtype=torch.int64, device=self.device)
        self.bad_in_a_row = torch.zeros((), dtype=torch.int64, device=self.device)
        self.stop_signal: str | None = None
        if resume is not None:
            self.restore(resume)

    def restore(self, ckpt: dict) -> None:
        """Takes up a checkpoint's state: weights, optimizer, progress and every random state."""
        load_states(ckpt, "the checkpoint", self.model, self.optimizer)
        for left in checkpoint.remove_temporaries(self.ckpt_dir) + checkpoint.remove_temporaries(self.run_dir):
            log.info("removed %s, left by a run killed while writing it", left)
        self.step, self.sequences = ckpt["step"], ckpt["sequences"]
        self.wall_seconds = ckpt.get("wall_seconds", 0.0)
        self.best, self.solved = ckpt.get("best"), ckpt.get("solved")
        self.level = ckpt.get("curriculum_level", 1.0)
        self.skipped = ckpt.get("skipped_steps", 0)
        self.bad_in_a_row.fill_(ckpt.get("bad_steps_in_a_row", 0))
        if self.scheduler is not None and ckpt.get("scheduler") is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        self.data.set_state(ckpt["rng"]["data"])
        checkpoint.set_rng_state(ckpt["rng"])
        self.resumed_at = self.step

    # -- saving -----------------------------------------------------------------

    def state(self) -> dict:
        return {
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "step": self.step,
            "sequences": self.sequences,
            "wall_seconds": self.wall_seconds,
            "rng": {"data": self.data.get_state(), **checkpoint.rng_state()},
            "best": self.best,
            "solved": self.solved,
            "curriculum_level": self.level,
            "skipped_steps": self.skipped,
            "bad_steps_in_a_row": self.bad_in_a_row.item(),
        }

    def save(self, names: list[str], writer: SummaryWriter | None = None) -> None:
        """Writes checkpoints ``names``; first flushes ``writer``, so no event before a checkpoint is lost."""
        if writer is not None:
            writer.flush()
        self.check_bad_steps()  # the skipped-step count the checkpoint records is up to date
        state = self.state()
        for name in names:
            checkpoint.save(state, self.ckpt_dir / name)
        keep = self.cfg.train.keep_checkpoints
        periodic = sorted(self.ckpt_dir.glob("step_*.pt"))
        for old in periodic[: max(0, len(periodic) - keep)]:
            old.unlink()

    def metrics(self) -> dict:
        out = {
            "steps": self.step,
            "sequences": self.sequences,
            "wall_seconds": round(self.wall_seconds, 3),
            "parameters": count_parameters(self.model),
            "validation": None if self.validation is None else {"step": self.step, **self.validation.as_dict()},
            "best": self.best,
            "curriculum_level": self.level,
            "skipped_steps": self.skipped,
        }
        if self.solved is not None:
            out.update({f"solved_at_{k}": v for k, v in self.solved.items()})
        return out

    # -- the loop ---------------------------------------------------------------

    def validate(self) -> Metrics:
        t = self.cfg.train
        generator = data_generator(self.cfg.seed, "validation")  # the same sequences every time
        return measure(self.model, self.task, generator, t.val_sequences, self.cfg.eval.batch_size, self.device)

    def train_step(self) -> torch.Tensor:
        """One optimizer step; returns [summed cost bits, summed bit errors, grad norm, 1], unsynced,
        or zeros where the loss or gradient was not finite and the step was skipped."""
        t = self.cfg.train
        batch = self.task.sample(t.batch_size, self.data, **curriculum.overrides(self.task, self.level))
        # Eager steps skip each sequence's padding (``lengths``, on the CPU: no sync). A compiled
        # step keeps the whole batch: one static graph, where every narrower batch would compile anew.
        lengths = batch.steps if self.step_fn is None else None
        batch = batch.to(self.device)
        logits, _ = self.model(batch.inputs, step=self.step_fn, lengths=lengths)
        cost = masked_bce_bits(logits, batch)
        self.optimizer.zero_grad(set_to_none=True)
        cost.mean().backward()
        if t.clip_grad_value is not None:
            torch.nn.utils.clip_grad_value_(self.model.parameters(), t.clip_grad_value)
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.clip_grad_norm or math.inf)
        cost_sum = cost.detach().sum()
        ok = torch.isfinite(norm) & torch.isfinite(cost_sum)
        if self.skips_on_device:  # a non-finite step never reaches the weights, and nothing waits for the device
            self.optimizer.found_inf = (~ok).to(torch.float32)
            self.optimizer.step()
        elif bool(ok):  # an optimizer with no device-side skip: one host sync (free on the CPU)
            self.optimizer.step()
        bad = (~ok).to(torch.int64)
        self.bad_steps.add_(bad)
        self.bad_in_a_row.add_(1).mul_(bad)
        errors = bit_errors(logits.detach(), batch).sum()
        out = torch.stack([cost_sum, errors.to(cost_sum.dtype), norm.to(cost_sum.dtype), ok.to(cost_sum.dtype)])
        return torch.where(ok, out, torch.zeros_like(out))

    def check_bad_steps(self) -> None:
        """Reports the steps skipped for a non-finite loss or gradient since the last check (a host sync,
        made at logging steps and checkpoints); stops once train.max_bad_steps came in a row."""
        bad, in_a_row = self.bad_steps.item(), self.bad_in_a_row.item()
        if bad == 0:
            return
        self.skipped += bad
        self.bad_steps.zero_()
        log.warning(
            "step %d: %d step(s) since the last check had a non-finite loss or gradient and were skipped "
            "(%d in a row now)",
            self.step,
            bad,
            in_a_row,
        )
        if in_a_row >= self.cfg.train.max_bad_steps:
            raise DivergedError(
                f"stopped at step {self.step}: {in_a_row} steps in a row had a non-finite loss or "
                f"gradient, so none was applied and the checkpoints in {self.ckpt_dir} hold the last good state; "
                "lower optimizer.lr or clip harder (train.clip_grad_norm)"
            )

    def run(self) -> dict:
        cfg, t = self.cfg, self.cfg.train
        log.info(
            "task=%s model=%s controller=%s: %d parameters, device %s, run dir %s",
            cfg.task.name,
            cfg.model.name,
            cfg.controller.name,
            count_parameters(self.model),
            self.device,
            self.run_dir,
        )
        if self.resumed_at is not None:
            log.info("resumed at step %d (%d sequences, %.1f s so far)", self.step, self.sequences, self.wall_seconds)
        # On a resume, events a crashed run logged after its checkpoint (which follows its step's events) are dropped.
        purge = None if self.resumed_at is None else self.resumed_at + 1
        writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=purge)
        bar = tqdm(total=t.steps, initial=self.step, unit="step", disable=not self.progress, dynamic_ncols=True)
        acc = torch.zeros(4, device=self.device)  # summed cost, bit errors, grad norm, steps applied since the log
        logged_at, logged_sequences = time.perf_counter(), self.sequences
        started = time.perf_counter() - self.wall_seconds
        with logging_redirect_tqdm(), self.stop_on_signals():
            while self.step < t.steps and self.stop_signal is None:
                first = self.step_fn is not None and self.step == 0
                sums = self.train_step()
                if first:
                    log.info(
                        "compiled the time step (train.compile=true, %d time step(s) per call): first step took %.1f s",
                        t.compile_steps,
                        time.perf_counter() - started,
                    )
                acc += sums
                self.step += 1
                self.sequences += t.batch_size
                bar.update(1)
                if self.step % t.log_every == 0:
                    self.check_bad_steps()
                    now = time.perf_counter()
                    rate = (self.sequences - logged_sequences) / (now - logged_at)
                    cost_sum, errors_sum, norm_sum, applied = acc.tolist()
                    # Means over the steps applied (a skipped step has no finite cost to average).
                    applied = applied or math.nan
                    seen = applied * t.batch_size
                    mean_cost, mean_errors, mean_norm = cost_sum / seen, errors_sum / seen, norm_sum / applied
                    scalars = {
                        "train/loss": mean_cost * math.log(2.0),
                        "train/cost_bits_per_sequence": mean_cost,
                        "train/bit_errors_per_sequence": mean_errors,
                        "train/grad_norm": mean_norm,
                        "train/lr": self.optimizer.param_groups[0]["lr"],
                        "train/sequences_per_second": rate,
                        "train/skipped_steps": self.skipped,
                    }
                    if self.level < 1.0:
                        scalars["train/curriculum_level"] = self.level
                        self.advance_curriculum(mean_errors)
                    for k, v in scalars.items():
                        writer.add_scalar(k, v, self.step)
                    bar.set_postfix(cost=f"{mean_cost:.3f}", bit_err=f"{mean_errors:.3f}", seq_s=f"{rate:.0f}")
                    acc.zero_()
                    logged_at, logged_sequences = now, self.sequences
                self.wall_seconds = time.perf_counter() - started
                out_of_time = t.max_seconds is not None and self.wall_seconds >= t.max_seconds
                validate = self.step % t.eval_every == 0 or self.step == t.steps or out_of_time
                if validate and (self.after_validation(writer) or out_of_time):
                    break
                if self.step % t.checkpoint_every == 0:
                    self.save(["last.pt", f"step_{self.step:07d}.pt"], writer)
        bar.close()
        self.wall_seconds = time.perf_counter() - started
        self.save(["last.pt"], writer)
        writer.close()
        metrics = self.metrics()
        checkpoint.write_text_atomic(self.run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        if self.stop_signal is not None:
            log.warning(
                "stopped by %s at step %d and saved %s; continue with: ntm train resume=%s",
                self.stop_signal,
                self.step,
                self.ckpt_dir / "last.pt",
                self.run_dir,
            )
            raise SystemExit(130 if self.stop_signal == "SIGINT" else 143)
        log.info(
            "stopped at step %d (%d sequences, %.1f s); validation bit errors/seq %.4f, cost %.4f bits/seq%s",
            self.step,
            self.sequences,
            self.wall_seconds,
            self.validation.bit_errors_per_sequence if self.validation else float("nan"),
            self.validation.cost_bits_per_sequence if self.validation else float("nan"),
            f"; solved at step {self.solved['step']}" if self.solved else "",
        )
        return metrics

    @contextlib.contextmanager
    def stop_on_signals(self):
        """SIGINT and SIGTERM end the run after the current step, with a checkpoint; a second one at once."""

        def handler(signum, frame):
            if self.stop_signal is not None:
                raise KeyboardInterrupt  # the second signal: leave now; checkpoints are written atomically
            self.stop_signal = signal.Signals(signum).name
            # os.write, not logging: the signal may have interrupted a write to the same stream.
            os.write(2, f"\n{self.stop_signal}: stopping after this step (send it again to stop at once)\n".encode())

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def advance_curriculum(self, train_bit_errors: float) -> None:
        c = self.cfg.train.curriculum
        level = curriculum.advance(self.level, c.step, train_bit_errors, c.threshold)
        if level != self.level:
            self.level = level
            sizes = ", ".join(f"task.{k}={v}" for k, v in curriculum.overrides(self.task, level).items())
            log.info("step %d: curriculum level %.2f: %s", self.step, level, sizes or "the full ranges")

    def after_validation(self, writer: SummaryWriter) -> bool:
        """Validates, logs, keeps the best checkpoint; True when the target is reached."""
        t = self.cfg.train
        self.validation = v = self.validate()
        writer.add_scalar("val/cost_bits_per_sequence", v.cost_bits_per_sequence, self.step)
        writer.add_scalar("val/bit_errors_per_sequence", v.bit_errors_per_sequence, self.step)
        if v.optimal_cost_bits_per_sequence is not None:
            writer.add_scalar("val/optimal_cost_bits_per_sequence", v.optimal_cost_bits_per_sequence, self.step)
        log.info(
            "step %d: validation bit errors/seq %.4f, cost %.4f bits/seq",
            self.step,
            v.bit_errors_per_sequence,
            v.cost_bits_per_sequence,
        )
        # The schedule sees the validations every eval_every steps only, not the extra one at the end of a
        # run: a run stopped and resumed then follows the same learning rates as one that never stopped.
        if self.scheduler is not None and self.step % t.eval_every == 0:
            self.step_lr(v.cost_bits_per_sequence)
        reached = t.target_bit_errors is not None and v.bit_errors_per_sequence <= t.target_bit_errors
        if reached and self.solved is None:
            self.solved = {"step": self.step, "sequences": self.sequences, "seconds": round(self.wall_seconds, 3)}
        # best.pt: the lowest bit errors, or the figure the task names (n-grams: the cost).
        key = getattr(self.task, "best_by", "bit_errors_per_sequence")
        if self.best is None or getattr(v, key) < self.best[key]:
            self.best = {"step": self.step, **v.as_dict()}
            self.save(["best.pt"], writer)
        return reached

    def step_lr(self, cost: float) -> None:
        """Feeds a validation cost to the plateau schedule; logs the learning rate when it falls."""
        before = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step(cost)
        after = self.optimizer.param_groups[0]["lr"]
        if after != before:
            p = self.cfg.optimizer.plateau
            log.info(
                "step %d: no improvement of the validation cost in %d validation(s); lr %.3g -> %.3g",
                self.step,
                p.patience + 1,
                before,
                after,
            )


def compiled_step(step: StepFn, steps: int, device: torch.device) -> StepFn | Chunked:
    """``step`` compiled for one static shape; with ``steps`` > 1, ``steps`` time steps per call.

    On the CPU the compiled code is called from a C++ wrapper rather than
    inductor's Python one (``cpp_wrapper``): the wrapper takes longer to
    compile, and each call then costs less (README, "Speed").
    """
    options = {"cpp_wrapper": True} if device.type == "cpu" else None
    if steps == 1:
        return torch.compile(step, dynamic=False, options=options)
    return Chunked(torch.compile(multi_step(step), dynamic=False, options=options), steps)


def train(cfg: DictConfig, run_dir: Path, progress: bool = False) -> dict:
    """Trains as ``cfg`` says, writing everything to ``run_dir``; returns the final metrics.

    With ``cfg.resume`` set, continues that run instead (see ``resume_config``).
    """
    if cfg.resume is None:
        return Trainer(cfg, run_dir, progress).run()
    ckpt = checkpoint.load(resume_checkpoint(cfg.resume))
    run_cfg = resume_config(ckpt["config"], cfg, HydraConfig.get().overrides.task)
    return Trainer(run_cfg, run_dir, progress, resume=ckpt).run()


def resume_checkpoint(path: str) -> Path:
    """The checkpoint ``resume=PATH`` names: PATH itself, or PATH/checkpoints/last.pt for a run directory."""
    p = Path(path)
    return p / "checkpoints" / "last.pt" if p.is_dir() else p


def resume_run_dir(path: str) -> Path:
    """The run directory a resumed run continues in: RUN for RUN or RUN/checkpoints/NAME.pt."""
    ckpt = resume_checkpoint(path)
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


# What a resumed run may change: how long and where it runs, never what it trains.
_RESUMABLE = (
    "train.steps",
    "train.max_seconds",
    "train.eval_every",
    "train.log_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.target_bit_errors",
    "train.compile",
    "train.compile_steps",
    "device",
    "eval",
    "resume",
)


def resume_config(saved: dict, composed: DictConfig, overrides: list[str]) -> DictConfig:
    """The run's own config, with the command line's overrides of ``_RESUMABLE`` keys applied.

    Any other override (the task, the model, the optimizer, the batch, the
    seed...) would make the continued run a different experiment: refused.
    """
    cfg = typed_train_config(saved)
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if not any(key == k or key.startswith(k + ".") for k in _RESUMABLE):
            raise ConfigError(
                f"{key} cannot change when resuming: the run continues with its own config "
                f"(only {', '.join(k for k in _RESUMABLE if k != 'resume')} may); start a new run to change it"
            )
        top = key.split(".")[0] if key.split(".")[0] in ("device", "eval") else key
        OmegaConf.update(cfg, top, OmegaConf.select(composed, top), merge=False)
    return cfg

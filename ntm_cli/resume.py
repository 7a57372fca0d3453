"""Continuing a run, resolved once: a path -> its checkpoint (loaded once) -> its own config with the allowed
overrides -> the typed config and the run directory to train on in.

``ntm train resume=RUN [train.steps=N ...]`` calls ``resolve`` before anything
else runs, then hands the result to ``train``. A resume may change how long
and where a run goes on, never what it trains. ``in_place`` is the same for a
run started again in its own directory (``train.resume=auto``: a Slurm job
requeued after preemption or its time limit, a sweep run again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ntm_cli import checkpoint, rundir
from ntm_cli.composition import compose
from ntm_cli.config import TrainConfig, format_value, keys, plain, typed_train, validate_train
from ntm_cli.errors import CheckpointError, ConfigError, NtmError

# What a resumed run may change: how long and where it runs, never what it trains.
RESUMABLE = (
    "train.steps",
    "train.max_seconds",
    "train.eval_every",
    "train.log_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.target_bit_errors",
    "train.compile",
    "train.compile_steps",
    "train.figures_every",
    "device",
    "eval",
    "objective",
    "train.resume",
)


@dataclass
class Resumption:
    """A run to continue: its checkpoint (loaded), its config (with the allowed overrides) and its directory."""

    checkpoint: dict[str, Any]
    config: TrainConfig
    run_dir: Path
    path: Path


def saved_config(ckpt: dict[str, Any], source: object) -> TrainConfig:
    """The typed training config a checkpoint was written with."""
    try:
        return typed_train(ckpt["config"])
    except NtmError as ex:
        raise CheckpointError(f"{source} holds a config this ntm cannot read ({ex}); retrain it") from None


def override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def resolve(path: str, overrides: Sequence[str] = ()) -> Resumption:
    """The run ``resume=PATH`` names (a run directory or one of its checkpoints), ready to continue.

    Raises NtmError, before anything is written, for a path that holds no
    usable checkpoint, an override that would change what the run trains,
    and a run that has nothing left to train.
    """
    ckpt_path = checkpoint.in_run(path, "last.pt")
    if not ckpt_path.is_file():
        raise CheckpointError(
            f"resume={path}: there is no checkpoint {ckpt_path}; give a run directory (holding "
            "checkpoints/last.pt) or a checkpoint file"
        )
    ckpt = checkpoint.load(ckpt_path)
    checkpoint.resumable(ckpt, ckpt_path)
    cfg = saved_config(ckpt, ckpt_path)
    for override in overrides:
        key = override_key(override)
        if not any(key == k or key.startswith(k + ".") for k in RESUMABLE):
            raise ConfigError(
                f"{key} cannot change when resuming: the run continues with its own config "
                f"(only {', '.join(RESUMABLE)} may); start a new run to change it"
            )
    if overrides:
        composed = compose("train", overrides)
        data = OmegaConf.create(plain(cfg))
        for key in dict.fromkeys(override_key(o) for o in overrides):
            OmegaConf.update(data, key, OmegaConf.select(composed, key), merge=False)
        cfg = typed_train(data)
    validate_train(cfg)
    nothing_left(ckpt, cfg, path)
    return Resumption(ckpt, cfg, checkpoint.run_of(ckpt_path), ckpt_path)


def nothing_left(ckpt: dict[str, Any], cfg: TrainConfig, path: str) -> None:
    """Refuses a resume that would end at once: continuing it would only rewrite what the run has written."""
    t, step = cfg.train, ckpt["step"]
    if step >= t.steps:
        raise ConfigError(
            f"{path} is at step {step} of train.steps={t.steps}; to train on, give train.steps above {step}"
        )
    seconds = ckpt.get("wall_seconds", 0.0) - ckpt.get("compile_seconds", 0.0)
    if t.max_seconds is not None and seconds >= t.max_seconds:
        raise ConfigError(
            f"{path} has trained {seconds:.0f} s of train.max_seconds={t.max_seconds:g}; "
            "to train on, give a larger train.max_seconds (or null)"
        )
    validation = ckpt.get("validation") or {}
    errors = validation.get("bit_errors_per_sequence")
    target = t.target_bit_errors
    if ckpt.get("ended_by") == "target" and target is not None and errors is not None and errors <= target:
        raise ConfigError(
            f"{path} reached train.target_bit_errors={target:g} at step {step}; "
            "to train on, give a lower train.target_bit_errors (or null)"
        )


def in_place(cfg: TrainConfig, run_dir: Path) -> dict[str, Any] | None:
    """The checkpoint to carry on from when ``cfg`` starts in ``run_dir`` again, or None for a new run.

    With ``train.resume=auto``, a run directory holding a checkpoint of this config (apart from the RESUMABLE
    keys, which take their new values) continues from it, exactly as ``resume=`` would. Raises ConfigError for
    a directory holding another config's run, or one with nothing left to train; with ``never``, for any run.
    """
    if cfg.train.resume == "never" or not rundir.holds_run(run_dir):
        rundir.ensure_new(run_dir)
        return None
    path = run_dir / "checkpoints" / "last.pt"
    ckpt = checkpoint.load(path)
    checkpoint.resumable(ckpt, path)
    differ = differences(saved_config(ckpt, path), cfg)
    if differ:
        raise ConfigError(
            f"{run_dir} holds a run of another config ({'; '.join(differ[:3])}); give a new hydra.run.dir=PATH, "
            f"or continue that run as it was with `ntm train resume={run_dir}`"
        )
    nothing_left(ckpt, cfg, str(run_dir))
    return ckpt


def differences(saved: TrainConfig, cfg: TrainConfig) -> list[str]:
    """``KEY: SAVED there, NOW here`` for each key outside RESUMABLE whose value differs."""
    before = {k: v for k, v, _ in keys(saved)}
    out = []
    for key, value, _ in keys(cfg):
        if not any(key == k or key.startswith(k + ".") for k in RESUMABLE) and before.get(key) != value:
            out.append(f"{key}: {format_value(before.get(key))} there, {format_value(value)} here")
    return out

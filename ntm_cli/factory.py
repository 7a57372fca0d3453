"""Builds the objects a config names: the task, the model, the optimizer, the device."""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from ntm_cli.checkpoint import CheckpointError
from ntm_cli.config import ConfigError, typed_train_config
from ntm_cli.models.dnc import DNC
from ntm_cli.models.lstm import LSTMBaseline
from ntm_cli.models.ntm import NTM
from tasks import TASKS


def resolve_device(cfg: DictConfig) -> torch.device:
    """Maps device.name (auto, cpu, cuda) to a torch device and applies device.threads."""
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    if cfg.name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but this torch sees no CUDA GPU; use device=cpu or device=auto")
    if cfg.name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.name)


def build_task(cfg: DictConfig):
    """The task generator named by task.name, with the config's fields."""
    fields = {k: v for k, v in cfg.items() if k != "name"}
    return TASKS[cfg.name](**fields)


def build_model(cfg: DictConfig, task) -> torch.nn.Module:
    """The model of a training config (model.name: ntm, dnc or lstm), sized for ``task``."""
    m, c = cfg.model, cfg.controller
    if m.name == "lstm":
        return LSTMBaseline(task.input_size, task.output_size, hidden_size=m.hidden_size, layers=m.layers)
    controller = {"controller": c.name, "hidden_size": c.hidden_size, "controller_layers": c.layers}
    memory = {"memory_n": m.memory_n, "memory_m": m.memory_m, "read_heads": m.read_heads}
    if m.name == "dnc":
        return DNC(task.input_size, task.output_size, **controller, **memory)
    return NTM(
        task.input_size,
        task.output_size,
        **controller,
        **memory,
        write_heads=m.write_heads,
        shift_range=m.shift_range,
        memory_init=m.memory_init,
        memory_init_value=m.memory_init_value,
    )


def build_optimizer(cfg: DictConfig, params) -> torch.optim.Optimizer:
    """Adam or RMSProp with the config's hyperparameters.

    Adam is torch's fused kernel where this torch has one for the parameters'
    device (CPU from torch 2.4, CUDA): one kernel for all parameters, and it
    can skip a step on a device-side flag (``skips_on_device``).
    """
    if cfg.name == "adam":
        params = list(params)
        kwargs = {"lr": cfg.lr, "betas": tuple(cfg.betas), "eps": cfg.eps}
        try:
            return torch.optim.Adam(params, fused=True, **kwargs)
        except RuntimeError:  # no fused Adam for this device in this torch
            return torch.optim.Adam(params, **kwargs)
    return torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum, alpha=cfg.alpha, eps=cfg.eps)


def build_scheduler(cfg: DictConfig, optimizer: torch.optim.Optimizer):
    """torch's ReduceLROnPlateau on the validation cost as ``optimizer.plateau`` sets it, or None (a constant lr)."""
    p = cfg.plateau
    if p.factor is None:
        return None
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=p.factor, patience=p.patience, threshold=p.threshold, min_lr=p.min_lr
    )


def skips_on_device(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step`` honours ``optimizer.found_inf`` (a device tensor: 1 leaves weights and state
    untouched), as torch's fused optimizers do for ``torch.amp.GradScaler``; then skipping a bad step needs no sync."""
    return bool(optimizer.defaults.get("fused"))


def checkpoint_config(ckpt: dict, source: object) -> DictConfig:
    """The typed training config a checkpoint was written with."""
    try:
        return typed_train_config(ckpt["config"])
    except OmegaConfBaseException as ex:
        raise CheckpointError(f"{source} holds a config this ntm cannot read ({ex}); retrain it") from None


def load_states(ckpt: dict, source: object, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None) -> None:
    """Loads a checkpoint's model (and optimizer) state; one clear error if they do not fit."""
    try:
        model.load_state_dict(ckpt["model"])
        if optimizer is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
    except (RuntimeError, ValueError, KeyError) as ex:
        raise misfit(source, ex) from None


def misfit(source: object, ex: Exception) -> CheckpointError:
    """The error for a checkpoint whose weights do not fit the model its config describes."""
    first = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
    return CheckpointError(
        f"{source} does not fit the model its config describes ({first}); it comes from another model "
        "or ntm version: use it with the ntm that wrote it, or retrain"
    )


def check_resumable(ckpt: dict, source: object) -> None:
    """Builds the model and optimizer a checkpoint describes and loads its states into them, or raises."""
    cfg = checkpoint_config(ckpt, source)
    model = build_model(cfg, build_task(cfg.task))
    load_states(ckpt, source, model, build_optimizer(cfg.optimizer, model.parameters()))


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# Data streams: every random draw of a run comes from one of these generators,
# seeded from ``seed`` so that no two streams (or two seeds) share a sequence.
_STREAMS = {"train": 0, "validation": 1, "eval": 2}


def data_generator(seed: int, stream: str) -> torch.Generator:
    """A CPU generator for the named data stream of run ``seed``."""
    return torch.Generator().manual_seed(len(_STREAMS) * seed + _STREAMS[stream])

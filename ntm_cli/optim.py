"""The optimizers (``optimizer=NAME``), their learning-rate schedule, and how a bad step is skipped."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from ntm_cli.checks import choice, positive


@dataclass
class PlateauConfig:
    """Lower the learning rate when the validation cost stops improving (torch's ReduceLROnPlateau).

    With ``train.curriculum.enabled`` the schedule starts once the curriculum reaches level 1.

    Attributes:
        factor: multiply the lr by this once the cost has not improved for more than ``patience``
            validations in a row; null keeps the lr constant
        patience: validations without improvement that are tolerated
        threshold: an improvement counts when the cost falls below best * (1 - threshold)
        min_lr: the lr never falls below this
    """

    factor: float | None = None
    patience: int = 1
    threshold: float = 1e-3
    min_lr: float = 0.0

    def problems(self) -> list[str]:
        out = []
        if self.factor is not None and not 0 < self.factor < 1:
            out.append(f"optimizer.plateau.factor={self.factor} must be between 0 and 1 (or null: a constant lr)")
        if self.patience < 0:
            out.append(f"optimizer.plateau.patience={self.patience} must be 0 or more")
        if not 0 <= self.threshold < 1:
            out.append(f"optimizer.plateau.threshold={self.threshold} must be 0 or more and under 1")
        if self.min_lr < 0:
            out.append(f"optimizer.plateau.min_lr={self.min_lr} must be 0 or more")
        return out


@dataclass
class OptimizerConfig:
    """The optimizer. Its defaults are Adam's; ``optimizer=rmsprop`` sets the paper's RMSProp.

    Attributes:
        name: adam or rmsprop
        lr: learning rate
        momentum: RMSProp's momentum
        alpha: RMSProp's smoothing constant
        eps: added to the denominator
        betas: Adam's beta1 and beta2
        plateau: a learning rate that falls when validation stalls
    """

    name: str = "adam"
    lr: float = 1e-2
    momentum: float = 0.0
    alpha: float = 0.99
    eps: float = 1e-8
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    plateau: PlateauConfig = field(default_factory=PlateauConfig)

    def problems(self) -> list[str]:
        return choice("optimizer", self.name, OPTIMIZERS) + positive(self, "optimizer", ("lr", "eps"))


def _adam(cfg: OptimizerConfig, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Torch's fused Adam where this torch has one for the parameters' device: one kernel for all parameters,
    and it can skip a step on a device-side flag (``skips_on_device``)."""
    kwargs = {"lr": cfg.lr, "betas": tuple(cfg.betas), "eps": cfg.eps}
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except RuntimeError:  # no fused Adam for this device in this torch
        return torch.optim.Adam(params, **kwargs)


def _rmsprop(cfg: OptimizerConfig, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum, alpha=cfg.alpha, eps=cfg.eps)


# name -> (the option's defaults, the builder)
OPTIMIZERS: dict[str, tuple[OptimizerConfig, Callable[[OptimizerConfig, list], torch.optim.Optimizer]]] = {
    "adam": (OptimizerConfig(name="adam"), _adam),
    # The paper's RMSProp (Graves et al. 2014, section 4): lr 1e-4, momentum 0.9.
    "rmsprop": (OptimizerConfig(name="rmsprop", lr=1e-4, momentum=0.9, alpha=0.95), _rmsprop),
}


def build_optimizer(cfg: OptimizerConfig, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer ``cfg`` names, over ``params``."""
    return OPTIMIZERS[cfg.name][1](cfg, list(params))


def build_scheduler(cfg: OptimizerConfig, optimizer: torch.optim.Optimizer):
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

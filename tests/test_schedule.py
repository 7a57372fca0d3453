"""optimizer.plateau: the learning rate falls when the validation cost stops improving."""

from __future__ import annotations

import pytest
import torch
from conftest import run
from omegaconf import OmegaConf

from ntm_cli.optim import OptimizerConfig, PlateauConfig, build_optimizer, build_scheduler


def _optimizer_and_schedule(**plateau):
    cfg = OmegaConf.structured(OptimizerConfig(lr=1.0, plateau=PlateauConfig(**plateau)))
    optimizer = build_optimizer(cfg, [torch.nn.Parameter(torch.zeros(3))])
    return optimizer, build_scheduler(cfg, optimizer)


def test_no_factor_means_a_constant_learning_rate():
    assert _optimizer_and_schedule()[1] is None


def test_the_rate_falls_after_more_than_patience_validations_without_a_relative_improvement():
    optimizer, schedule = _optimizer_and_schedule(factor=0.5, patience=1, threshold=0.1, min_lr=0.3)
    lrs = []
    # 10 sets the best; 9.5 and 9.2 are not below 10 * 0.9 = 9 (two bad, more than the patience of 1): halve.
    # 8.0 improves (best 8); 7.5 is not below 7.2 (one bad); 7.1 improves; then two bad: halving
    # again would give 0.25, below min_lr, so it stops at 0.3.
    for cost in (10.0, 9.5, 9.2, 8.0, 7.5, 7.1, 7.0, 7.0):
        schedule.step(cost)
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.3])


def test_under_a_curriculum_the_rate_falls_only_once_the_full_ranges_are_reached(tmp_path):
    """Every validation is a plateau (threshold 0.9: no cost improves by 90%). A curriculum that never leaves
    level 0 (threshold 0: no bit error in 64 bits, untrained) keeps the rate; without it the rate halves."""
    plateau = ["optimizer.lr=0.01", "optimizer.plateau.factor=0.5", "optimizer.plateau.patience=0"]
    plateau.append("optimizer.plateau.threshold=0.9")
    held = run(tmp_path, *plateau, "train.curriculum.enabled=true", "train.curriculum.threshold=0", name="held")
    assert "lr 0.01 ->" not in (held.run_dir / "train.log").read_text()
    free = run(tmp_path, *plateau, name="free")
    assert "lr 0.01 -> 0.005" in (free.run_dir / "train.log").read_text()

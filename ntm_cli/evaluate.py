"""``ntm eval``: a checkpoint's cost and bit errors on fresh sequences, length by length."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import NamedTuple

import torch
from omegaconf import DictConfig, OmegaConf

from ntm_cli import checkpoint
from ntm_cli.config import train_config_from_dict, validate_eval
from ntm_cli.factory import build_model, build_task, data_generator, resolve_device
from tasks import bit_errors, masked_bce_bits

log = logging.getLogger(__name__)


class Metrics(NamedTuple):
    """Means over the evaluated sequences."""

    cost_bits_per_sequence: float
    bit_errors_per_sequence: float


@torch.no_grad()
def measure(
    model: torch.nn.Module,
    task,
    generator: torch.Generator,
    num_sequences: int,
    batch_size: int,
    device: torch.device,
    min_len: int | None = None,
    max_len: int | None = None,
) -> Metrics:
    """Cost in bits and bit errors per sequence on ``num_sequences`` fresh episodes."""
    was_training = model.training
    model.eval()
    cost = torch.zeros((), device=device)
    errors = torch.zeros((), device=device)
    for start in range(0, num_sequences, batch_size):
        batch = task.sample(min(batch_size, num_sequences - start), generator, min_len, max_len).to(device)
        logits, _ = model(batch.inputs)
        cost += masked_bce_bits(logits, batch).sum()
        errors += bit_errors(logits, batch).sum()
    model.train(was_training)
    return Metrics(cost.item() / num_sequences, errors.item() / num_sequences)


def evaluate(cfg: DictConfig, run_dir: Path) -> dict:
    """Evaluates ``cfg.checkpoint`` at every length of the protocol; writes ``eval.json``."""
    validate_eval(cfg)
    device = resolve_device(cfg.device)
    ckpt = checkpoint.load(cfg.checkpoint)
    train_cfg = train_config_from_dict(ckpt["config"])
    task = build_task(train_cfg.task)
    model = build_model(train_cfg, task).to(device)
    model.load_state_dict(ckpt["model"])

    lengths = cfg.eval.lengths or train_cfg.eval.lengths or list(task.default_eval_lengths)
    generator = data_generator(cfg.seed, "eval")
    n, bs = cfg.eval.num_sequences, cfg.eval.batch_size
    rows: dict[str, Metrics] = {}
    train_range = f"{task.min_len}-{task.max_len}"
    rows[train_range] = measure(model, task, generator, n, bs, device)
    for length in lengths:
        rows[str(length)] = measure(model, task, generator, n, bs, device, length, length)

    result = {
        "checkpoint": str(Path(cfg.checkpoint).resolve()),
        "task": train_cfg.task.name,
        "model": train_cfg.model.name,
        "controller": train_cfg.controller.name,
        "trained_step": ckpt["step"],
        "num_sequences": n,
        "seed": cfg.seed,
        "train_range": train_range,
        "lengths": {k: v._asdict() for k, v in rows.items()},
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    (run_dir / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    table = format_table(rows, train_range, n)
    print(table)
    (run_dir / "eval.txt").write_text(table + "\n")
    log.info("evaluated %s at lengths %s; wrote %s", cfg.checkpoint, ", ".join(rows), run_dir / "eval.json")
    return result


def format_table(rows: dict[str, Metrics], train_range: str, num_sequences: int) -> str:
    """A plain-text table, one row per length."""
    lines = [
        f"{num_sequences} sequences per length (length {train_range} = the training range)",
        f"{'length':>8}  {'bit errors/seq':>14}  {'cost bits/seq':>13}",
    ]
    for name, m in rows.items():
        lines.append(f"{name:>8}  {m.bit_errors_per_sequence:>14.3f}  {m.cost_bits_per_sequence:>13.3f}")
    return "\n".join(lines)

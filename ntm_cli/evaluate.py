"""``ntm eval``: a checkpoint's cost and bit errors on fresh sequences, length by length."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import NamedTuple

import torch
from omegaconf import DictConfig, OmegaConf

from ntm_cli import checkpoint
from ntm_cli.config import ConfigError, validate_eval
from ntm_cli.factory import (
    build_model,
    build_task,
    checkpoint_config,
    data_generator,
    load_states,
    misfit,
    resolve_device,
)
from ntm_cli.models.ntm import resize_memory
from tasks import bit_errors, masked_bce_bits

log = logging.getLogger(__name__)


class Metrics(NamedTuple):
    """Means over the evaluated sequences; the optimal cost only for tasks that define one (ngram)."""

    cost_bits_per_sequence: float
    bit_errors_per_sequence: float
    optimal_cost_bits_per_sequence: float | None = None

    def as_dict(self) -> dict[str, float]:
        return {k: v for k, v in self._asdict().items() if v is not None}


@torch.no_grad()
def measure(
    model: torch.nn.Module,
    task,
    generator: torch.Generator,
    num_sequences: int,
    batch_size: int,
    device: torch.device,
    **overrides: int,
) -> Metrics:
    """Cost in bits and bit errors per sequence on ``num_sequences`` fresh episodes.

    ``overrides`` go to ``task.sample`` (e.g. min_len=50, max_len=50).
    """
    was_training = model.training
    model.eval()
    totals = torch.zeros(3, device=device)  # cost, bit errors, optimal cost
    optimal = getattr(task, "optimal_cost_bits", None)
    for start in range(0, num_sequences, batch_size):
        batch = task.sample(min(batch_size, num_sequences - start), generator, **overrides)
        lengths = batch.steps
        batch = batch.to(device)
        logits, _ = model(batch.inputs, lengths=lengths)
        totals[0] += masked_bce_bits(logits, batch).sum()
        totals[1] += bit_errors(logits, batch).sum()
        if optimal is not None:
            totals[2] += optimal(batch).sum()
    model.train(was_training)
    cost, errors, best = (totals / num_sequences).tolist()
    return Metrics(cost, errors, best if optimal is not None else None)


def evaluate(cfg: DictConfig, run_dir: Path) -> dict:
    """Evaluates ``cfg.checkpoint`` at every length of the protocol; writes ``eval.json``."""
    validate_eval(cfg)
    device = resolve_device(cfg.device)
    ckpt = checkpoint.load(cfg.checkpoint)
    train_cfg = checkpoint_config(ckpt, cfg.checkpoint)
    task = build_task(train_cfg.task)
    state = ckpt["model"]
    if cfg.eval.memory_n is not None:
        if "memory_n" not in train_cfg.model:
            raise ConfigError(
                f"eval.memory_n applies to the memory models (ntm, dnc), not model={train_cfg.model.name}"
            )
        train_cfg.model.memory_n = cfg.eval.memory_n
    try:
        if train_cfg.model.name == "ntm":
            state = resize_memory(state, train_cfg.model.memory_n)
    except (RuntimeError, ValueError, KeyError) as ex:
        raise misfit(cfg.checkpoint, ex) from None
    model = build_model(train_cfg, task).to(device)
    load_states({"model": state}, cfg.checkpoint, model, None)

    protocol = task.eval_rows(
        lengths=cfg.eval.lengths or train_cfg.eval.lengths, repeats=cfg.eval.repeats or train_cfg.eval.repeats
    )
    for warning in beyond_memory(train_cfg.model, task, protocol):
        log.warning(warning)
    generator = data_generator(cfg.seed, "eval")
    n, bs = cfg.eval.num_sequences, cfg.eval.batch_size
    train_range = task.train_range
    rows = {train_range: measure(model, task, generator, n, bs, device)}
    for name, overrides in protocol.items():
        rows[name] = measure(model, task, generator, n, bs, device, **overrides)

    result = {
        "checkpoint": str(Path(cfg.checkpoint).resolve()),
        "task": train_cfg.task.name,
        "model": train_cfg.model.name,
        "controller": None if train_cfg.model.name == "lstm" else train_cfg.controller.name,
        "trained_step": ckpt["step"],
        "memory_n": train_cfg.model.get("memory_n"),
        "num_sequences": n,
        "seed": cfg.seed,
        "train_range": train_range,
        "rows": {k: v.as_dict() for k, v in rows.items()},
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    checkpoint.write_text_atomic(run_dir / "eval.json", json.dumps(result, indent=2) + "\n")
    table = format_table(rows, train_range, n)
    print(table)
    checkpoint.write_text_atomic(run_dir / "eval.txt", table + "\n")
    log.info("evaluated %s on %s; wrote %s", cfg.checkpoint, "; ".join(rows), run_dir / "eval.json")
    return result


def beyond_memory(model: DictConfig, task: object, protocol: dict[str, dict[str, int]]) -> list[str]:
    """A warning for each protocol row with more vectors to hold than the memory has locations."""
    if "memory_n" not in model:
        return []
    out = []
    for name, overrides in protocol.items():
        demand = dataclasses.replace(task, **overrides).memory_demand
        if demand.vectors > model.memory_n:
            out.append(
                f"{name}: up to {demand.vectors} vectors to hold and {model.memory_n} memory locations; "
                "expect errors (eval.memory_n=N evaluates with a larger memory)"
            )
    return out


def format_table(rows: dict[str, Metrics], train_range: str, num_sequences: int) -> str:
    """A plain-text table, one row per evaluated setting."""
    optimal = any(m.optimal_cost_bits_per_sequence is not None for m in rows.values())
    width = max(len(name) for name in rows)
    header = f"{'':<{width}}  {'bit errors/seq':>14}  {'cost bits/seq':>13}" + ("  optimal bits/seq" if optimal else "")
    lines = [f"{num_sequences} sequences per row (the first row is the training range: {train_range})", header]
    for name, m in rows.items():
        line = f"{name:<{width}}  {m.bit_errors_per_sequence:>14.3f}  {m.cost_bits_per_sequence:>13.3f}"
        if m.optimal_cost_bits_per_sequence is not None:
            line += f"  {m.optimal_cost_bits_per_sequence:>16.3f}"
        lines.append(line)
    return "\n".join(lines)

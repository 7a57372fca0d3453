"""``evaluate(cfg) -> EvalResult``: a checkpoint's metrics on fresh sequences, row by row; never exits the process.

Each row (the training range, then each size of the task's generalisation
protocol) is written to ``eval.json`` as soon as it is measured, so a stop by
SIGINT or SIGTERM keeps the rows already done (``complete`` false). With
``eval.figures``, each row's first sequence is drawn into ``figures/`` too
(``ntm_cli/figures.py``).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ntm_cli import checkpoint, device, figures, metrics, rundir
from ntm_cli.config import EvalConfig, plain, typed_eval, validate_eval
from ntm_cli.errors import ConfigError
from ntm_cli.models import spec_of
from ntm_cli.resume import saved_config
from ntm_cli.signals import stop_requests
from ntm_cli.tasks import Task, build_task
from ntm_cli.tasks.base import data_generator

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    """What an evaluation came to: eval.json's content; status done, or stopped (by a signal)."""

    run_dir: Path
    status: str
    result: dict[str, Any]
    stop_signal: str | None = None


def beyond_memory(model: Any, task: Task, protocol: dict[str, dict[str, int]]) -> list[str]:
    """A warning for each protocol row with more vectors to hold than the memory has locations."""
    n = getattr(model, "memory_n", None)
    out = []
    for name, overrides in protocol.items():
        demand = dataclasses.replace(task, **overrides).memory_demand
        if n is not None and demand is not None and demand.vectors > n:
            out.append(
                f"{name}: up to {demand.vectors} vectors to hold and {n} memory locations; "
                "expect errors (eval.memory_n=N evaluates with a larger memory)"
            )
    return out


def load_model(cfg: EvalConfig, ckpt: dict[str, Any], source: Path, dev: torch.device):
    """The checkpoint's task, its model (with eval.memory_n locations where asked), its training config and
    model spec. Refuses, before building it, a model whose evaluation would not fit in memory."""
    train_cfg = saved_config(ckpt, source)
    spec = spec_of(train_cfg.model)
    task = build_task(train_cfg.task)
    state = ckpt["model"]
    if cfg.eval.memory_n is not None:
        if spec.resize is None or not hasattr(train_cfg.model, "memory_n"):
            raise ConfigError(
                f"eval.memory_n applies to the memory models (ntm, dnc), not model={train_cfg.model.name}; drop it"
            )
        try:
            state = spec.resize(state, cfg.eval.memory_n)
        except ValueError as ex:
            raise ConfigError(str(ex)) from None
        train_cfg.model.memory_n = cfg.eval.memory_n
    if spec.sizes is not None:
        parameters, floats = spec.sizes(train_cfg.model, train_cfg.controller, task.input_size, task.output_size)
        need = device.inference_bytes(parameters, 4 * floats, cfg.eval.batch_size)
        lower = f"eval.batch_size={cfg.eval.batch_size}" + (" or eval.memory_n" if cfg.eval.memory_n else "")
        device.check_fits(need, dev, "this evaluation", lower)
    model = spec.build(train_cfg.model, train_cfg.controller, task.input_size, task.output_size).to(dev)
    checkpoint.load_weights(model, state, source)
    return task, model, train_cfg, spec


def evaluate(cfg: EvalConfig | dict | Any, run_dir: str | Path | None = None) -> EvalResult:
    """Evaluates ``cfg.checkpoint`` (a file, or a run directory's best.pt) on every row of the protocol.

    Writes eval.json (after each row), eval.txt and, with eval.figures, figures/ROW.png to ``run_dir`` (default:
    RUN/eval/DATE_TIME beside the checkpoint's run). Raises NtmError for bad
    input, before anything is written.
    """
    cfg = cfg if isinstance(cfg, EvalConfig) else typed_eval(cfg)
    validate_eval(cfg)
    source = checkpoint.in_run(cfg.checkpoint, "best.pt")
    ckpt = checkpoint.load(source)
    dev = device.resolve_device(cfg.device, cfg.eval.batch_size)
    task, model, train_cfg, spec = load_model(cfg, ckpt, source, dev)
    if cfg.eval.figures:
        figures.check(model)
    protocol = task.eval_rows(
        lengths=cfg.eval.lengths or train_cfg.eval.lengths, repeats=cfg.eval.repeats or train_cfg.eval.repeats
    )
    run_dir = Path(run_dir) if run_dir is not None else rundir.evaluations(cfg.checkpoint) / rundir.stamp()
    rows = {task.train_range: {}, **protocol}
    result: dict[str, Any] = {
        "checkpoint": str(source.resolve()),
        "task": train_cfg.task.name,
        "model": train_cfg.model.name,
        "controller": train_cfg.controller.name if spec.controller else None,
        "trained_step": ckpt.get("step"),
        "memory_n": getattr(train_cfg.model, "memory_n", None),
        "num_sequences": cfg.eval.num_sequences,
        "seed": cfg.seed,
        "train_range": task.train_range,
        "complete": False,
        "rows": {},
        "config": plain(cfg),
    }
    generator = data_generator(cfg.seed, "eval")
    n, batch = cfg.eval.num_sequences, cfg.eval.batch_size
    with rundir.log_file(run_dir / "eval.log"), stop_requests("this row") as stop:
        for warning in beyond_memory(train_cfg.model, task, protocol):
            log.warning(warning)
        with device.out_of_memory_as_error(f"eval.batch_size={batch}"):
            for name, overrides in rows.items():
                if stop.name is not None:
                    break
                start = generator.get_state()
                result["rows"][name] = metrics.measure(model, task, generator, n, batch, dev, metrics.EVAL, **overrides)
                rundir.write_json(run_dir / "eval.json", result)
                if cfg.eval.figures:  # the row's first sequence: measure's first batch, redrawn from its start
                    first = task.sample(min(n, batch), torch.Generator().set_state(start), **overrides)
                    title = f"{result['model']} on {result['task']}, {name}: the first sequence"
                    figures.draw_first(model, first, title, run_dir / "figures" / figures.file_name(name))
        if cfg.eval.figures and result["rows"]:
            log.info("drew the first sequence of each row into %s", run_dir / "figures")
        result["complete"] = stop.name is None
        rundir.write_json(run_dir / "eval.json", result)
        table = format_table(result["rows"], task.train_range, n)
        print(table)
        checkpoint.write_text_atomic(run_dir / "eval.txt", table + "\n")
        if stop.name is not None:
            done, path = len(result["rows"]), run_dir / "eval.json"
            log.warning("stopped by %s after %d of %d rows; wrote them to %s", stop.name, done, len(rows), path)
            return EvalResult(run_dir, "stopped", result, stop.name)
        log.info("evaluated %s on %s; wrote %s", source, "; ".join(rows), run_dir / "eval.json")
    return EvalResult(run_dir, "done", result)


def format_table(rows: dict[str, dict[str, float]], train_range: str, num_sequences: int) -> str:
    """A plain-text table, one row per evaluated setting, one column per metric."""
    names = list(dict.fromkeys(name for values in rows.values() for name in values))
    width = max([len(r) for r in rows] + [1])
    headers = [name.replace("_per_sequence", "/seq").replace("_", " ") for name in names]
    lines = [
        f"{num_sequences} sequences per row (the first row is the training range: {train_range})",
        f"{'':<{width}}" + "".join(f"  {h:>{max(len(h), 10)}}" for h in headers),
    ]
    for row, values in rows.items():
        cells = "".join(f"  {values[n]:>{max(len(h), 10)}.3f}" for n, h in zip(names, headers, strict=True))
        lines.append(f"{row:<{width}}{cells}")
    return "\n".join(lines)

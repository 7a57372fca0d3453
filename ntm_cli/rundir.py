"""A run directory: what it holds, the guard against reusing one, and its log file and result files.

RUN/
  .hydra/        the composed config and the overrides (runs started by the CLI)
  train.log      the log (eval.log for ntm eval)
  checkpoints/   last.pt, best.pt, step_NNNNNNN.pt
  tb/            TensorBoard events
  metrics.json   the run's result: status (running, done, stopped, failed), progress, validation, best,
                 solved_at_*; rewritten at each validation while the run goes on
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ntm_cli.checkpoint import write_text_atomic
from ntm_cli.errors import ConfigError

_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


def default(command: str) -> Path:
    """outputs/COMMAND/DATE/TIME, as the CLI names a run it is not told where to put."""
    now = datetime.datetime.now()
    return Path("outputs") / command / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")


def stamp() -> str:
    """DATE_TIME, the name of an evaluation's folder beside its run."""
    return datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")


def evaluations(checkpoint: str | Path) -> Path:
    """Where ``ntm eval`` writes by default: RUN/eval for run RUN or one of its checkpoints, else outputs/eval."""
    path = Path(checkpoint)
    run = path if path.is_dir() else path.parent.parent if path.parent.name == "checkpoints" else None
    return run / "eval" if run is not None else Path("outputs") / "eval"


def holds_run(run_dir: Path) -> bool:
    return (run_dir / "checkpoints" / "last.pt").exists()


def ensure_new(run_dir: Path) -> None:
    """Refuses a directory that already holds a training run: nothing in it may be overwritten."""
    if holds_run(run_dir):
        raise ConfigError(
            f"{run_dir} already holds a training run; continue it with `ntm train resume={run_dir}`, "
            "or give a new hydra.run.dir=PATH"
        )


def remove_if_untouched(run_dir: Path) -> None:
    """Removes a run directory that a refused command created and left empty."""
    if run_dir.is_dir() and not any(run_dir.iterdir()):
        shutil.rmtree(run_dir, ignore_errors=True)


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


@contextlib.contextmanager
def log_file(path: Path) -> Iterator[None]:
    """Within the block, ntm's log also goes to ``path`` (appended to, so a resumed run continues its log)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("ntm_cli")
    handler = logging.FileHandler(path, mode="a")
    handler.setFormatter(logging.Formatter(_FORMAT))
    level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()


@contextlib.contextmanager
def console_logging() -> Iterator[None]:
    """Within the block, ntm's log on stdout, as Hydra's job logging has it (for commands run without Hydra)."""
    logger = logging.getLogger("ntm_cli")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(_FORMAT))
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # once on the console is enough
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate

"""Hydra's side of the configs: ntm's schemas and options registered in its ConfigStore, composition from the
command line (``compose``, also for notebooks and tests), and Hydra's errors worded as one line for the user."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ntm_cli import rundir
from ntm_cli.config import EvalConfig, TrainConfig, type_problem
from ntm_cli.device import DEVICES, DeviceConfig
from ntm_cli.errors import ConfigError
from ntm_cli.models import MODELS, model_spec
from ntm_cli.models.controllers import CONTROLLERS, ControllerConfig
from ntm_cli.optim import OPTIMIZERS
from ntm_cli.tasks import TASKS, task_schema


def config_dir() -> Path:
    """The ``conf/`` folder: inside the package in a wheel, beside it in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"ntm's configs are missing: no conf/train.yaml in {here} or {here.parent}")


# -- registration ---------------------------------------------------------------------------------------------------

# Longest sweep job folder named by its overrides; longer names are shortened.
_MAX_DIRNAME = 120


def job_dirname(overrides: str, job_number: int) -> str:
    """A sweep job's folder: its overrides (``a=1,b=2``), or ``job<N>-<hash>`` when they are too long.

    A file name can hold 255 bytes; a sweep over many keys would exceed it.
    Every job's overrides are also in its ``.hydra/overrides.yaml``.
    """
    if len(overrides.encode()) <= _MAX_DIRNAME:
        return overrides or f"job{job_number}"
    return f"job{job_number}-{hashlib.sha1(overrides.encode()).hexdigest()[:10]}"


def _override_value(overrides: Sequence[str], key: str) -> str | None:
    values = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == key and "=" in o]
    return values[-1] if values else None


def register_configs(overrides: Sequence[str] = ()) -> None:
    """Puts every schema and built-in option in Hydra's ConfigStore, and ntm's resolvers in OmegaConf.

    A YAML file of the same option under ``conf/`` takes its place (it adds
    what the option changes beyond its schema). ``task._target_=...`` and
    ``model._target_=...`` in ``overrides`` register a user's class as
    ``task=custom`` and ``model=custom``.
    """
    OmegaConf.register_new_resolver("job_dirname", job_dirname, replace=True)
    OmegaConf.register_new_resolver("eval_dir", lambda path: str(rundir.evaluations(path)), replace=True)
    cs = ConfigStore.instance()
    cs.store(group="schema", name="train", node=TrainConfig)
    cs.store(group="schema", name="eval", node=EvalConfig)
    conf = config_dir()
    task_target = _override_value(overrides, "task._target_")
    for name in [*TASKS, "custom"]:
        if name == "custom" and not task_target:
            node: Any = {"name": "custom", "_target_": MISSING}
        else:
            node = task_schema(name, task_target if name == "custom" else None)
        cs.store(group="schema/task", name=name, node=node)
        if not (conf / "task" / f"{name}.yaml").exists():
            cs.store(group="task", name=name, node=node, package="task")
    model_target = _override_value(overrides, "model._target_")
    for name in [*MODELS, "custom"]:
        if name == "custom" and not model_target:
            node = {"name": "custom", "_target_": MISSING}
        else:
            node = model_spec(name, model_target if name == "custom" else None).config
        cs.store(group="model", name=name, node=node, package="model")
    for name in CONTROLLERS:
        cs.store(group="controller", name=name, node=ControllerConfig(name=name), package="controller")
    for name, (defaults, _) in OPTIMIZERS.items():
        cs.store(group="optimizer", name=name, node=defaults, package="optimizer")
    for name in DEVICES:
        cs.store(group="device", name=name, node=DeviceConfig(name=name), package="device")


def compose(command: str = "train", overrides: Sequence[str] = ()) -> DictConfig:
    """The config ``ntm COMMAND OVERRIDES`` would run, composed without running it (for notebooks and tests)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    overrides = normalize_overrides(overrides)
    register_configs(overrides)
    with initialize_config_dir(str(config_dir()), version_base=None, job_name=command):
        try:
            return hydra_compose(command, overrides=list(overrides))
        except (HydraException, OmegaConfBaseException) as ex:
            raise ConfigError(one_line(ex, command)) from None


# Keys whose value is a path: a sweep job's folder name holds '=' and ',', which Hydra would parse.
_PATH_KEYS = ("checkpoint",)


def normalize_overrides(overrides: Sequence[str]) -> list[str]:
    """Overrides with whole numbers written as floats (``train.steps=1e3``) turned into integers, and a path
    with '=' or ',' in it (a sweep job's folder) quoted.

    A float field takes an integer as it is, so only integer fields see a difference.
    """
    out = []
    for o in overrides:
        key, eq, value = o.partition("=")
        if key in _PATH_KEYS and ("=" in value or "," in value) and not set("'\"") & set(value):
            value = f"'{value}'"
        elif eq and not key.startswith(("hydra", "~")):
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if math.isfinite(number) and number.is_integer() and not value.lstrip("+-").isdigit():
                value = str(int(number))
        out.append(f"{key}{eq}{value}")
    return out


# The packages that provide Hydra's launchers and sweepers ntm users ask for.
_PLUGINS = {
    "joblib": "hydra-joblib-launcher",
    "submitit_local": "hydra-submitit-launcher",
    "submitit_slurm": "hydra-submitit-launcher",
    "optuna": "hydra-optuna-sweeper",
}


def one_line(ex: BaseException, command: str) -> str:
    """Folds an error from Hydra or OmegaConf into one line that says what to do."""
    text = str(ex)
    both = f"{text}\n{ex.__cause__ or ''}"
    missing = re.search(r"Could not find '([^']+)/([^'/]+)'", text)
    if missing:
        group, option = missing.groups()
        options = [o for o in re.findall(r"^\t(\S+)$", text, flags=re.M) if not o.startswith("schema")]
        line = f"unknown {group} '{option}'; choose {group}=OPTION with OPTION one of: {', '.join(options) or '(none)'}"
        if option in _PLUGINS:
            line += f" ({option} needs Hydra's plugin: pip install {_PLUGINS[option]})"
        return line
    unknown = re.search(r"Could not (?:override|append to) '([^']+)'|Key '([^']+)' (?:is )?not in", both)
    if unknown or "not in struct" in both:
        key = next((g for g in unknown.groups() if g), "that key") if unknown else "that key"
        if command == "eval" and key.split(".")[0] in ("task", "model", "controller", "optimizer", "train"):
            return (
                f"{key} cannot be set in ntm eval: the task and the model come from the checkpoint; "
                "evaluate other sizes with eval.lengths=[...] (and eval.repeats, eval.memory_n)"
            )
        return f"unknown key '{key}'; see the keys with `ntm {command} --help` and fix its spelling (no new keys)"
    inner = ex.__cause__ if isinstance(ex.__cause__, OmegaConfBaseException) else ex
    if isinstance(inner, OmegaConfBaseException):
        return type_problem(inner).replace("ntm train --help", f"ntm {command} --help")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines) if lines else type(ex).__name__

"""The task generators and their registry: ``task=NAME`` -> the generator class.

This folder installs as ``ntm_cli.tasks``. A task of your own joins without
editing it: ``ntm train task=custom task._target_=my_module.MyTask``, with
``MyTask`` a frozen dataclass subclassing ``Task`` (docs/extending.md).
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

from ntm_cli import plugins
from ntm_cli.errors import ConfigError
from ntm_cli.tasks.associative_recall import AssociativeRecallTask
from ntm_cli.tasks.base import Batch, MemoryDemand, Task, bit_errors, masked_bce_bits
from ntm_cli.tasks.copy import CopyTask
from ntm_cli.tasks.ngram import NgramTask
from ntm_cli.tasks.priority_sort import PrioritySortTask
from ntm_cli.tasks.repeat_copy import RepeatCopyTask

TASKS: dict[str, type[Task]] = {
    cls.name: cls for cls in (CopyTask, RepeatCopyTask, AssociativeRecallTask, NgramTask, PrioritySortTask)
}


def task_class(name: str, target: str | None = None) -> type[Task]:
    """The generator class of ``task=NAME`` (``custom`` with ``task._target_``)."""
    if name != "custom":
        if name not in TASKS:
            raise ConfigError(f"task={name} is not known; use one of: {', '.join([*TASKS, 'custom'])}")
        return TASKS[name]
    if not target:
        raise ConfigError("task=custom needs task._target_=MODULE.CLASS, the class of your task")
    cls = plugins.load_class(target, "task._target_")
    if not (dataclasses.is_dataclass(cls) and issubclass(cls, Task)):
        raise ConfigError(
            f"task._target_={target} is not a task: make it a dataclass that subclasses ntm_cli.tasks.Task"
        )
    return cls


@cache
def task_schema(name: str, target: str | None = None) -> type:
    """The config schema of ``task=NAME``: ``name`` (and ``_target_``), then the generator's fields."""
    cls = task_class(name, target)
    schema = plugins.schema(f"{cls.__name__}Config", name, plugins.constructor_fields(cls), target=target)
    schema.__doc__ = cls.__doc__
    return schema


def build_task(cfg: Any) -> Task:
    """The generator a task config (``task_schema``'s dataclass) describes."""
    target = getattr(cfg, "_target_", None)
    keys = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name not in ("name", "_target_")}
    return task_class(cfg.name, target)(**keys)


__all__ = [
    "TASKS",
    "AssociativeRecallTask",
    "Batch",
    "CopyTask",
    "MemoryDemand",
    "NgramTask",
    "PrioritySortTask",
    "RepeatCopyTask",
    "Task",
    "bit_errors",
    "build_task",
    "masked_bce_bits",
    "task_class",
    "task_schema",
]

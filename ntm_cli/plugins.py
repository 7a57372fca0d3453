"""Classes named on the command line (``task._target_=my_tasks.Parity``) and the config schemas derived from classes.

A task's or model's config keys are read off its class: a dataclass's fields,
or the keyword parameters of a module's constructor, typed by their
annotations and described by the ``Attributes:`` section of its docstring.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, get_type_hints

from omegaconf import MISSING

from ntm_cli.errors import ConfigError


@contextmanager
def _current_directory_importable():
    """The working directory on sys.path while importing, as ``python -m`` has it."""
    cwd = str(Path.cwd())
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def load_class(target: str, key: str) -> type:
    """The class ``module.Class`` (or ``module:Class``) names, importable from the working directory too.

    ``key`` is the config key that named it, for the error message.
    """
    module_name, _, attr = target.replace(":", ".").rpartition(".")
    hint = (
        f"give {key}=MODULE.CLASS with MODULE importable (a file MODULE.py in the working directory or on PYTHONPATH)"
    )
    if not module_name or not attr:
        raise ConfigError(f"{key}={target} names no class; {hint}")
    try:
        with _current_directory_importable():
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as ex:
        raise ConfigError(f"{key}={target}: no module named {ex.name!r}; {hint}") from None
    cls = getattr(module, attr, None)
    if not inspect.isclass(cls):
        raise ConfigError(f"{key}={target}: {module_name} has no class {attr}; {hint}")
    return cls


def constructor_fields(cls: type, skip: int = 0) -> list[tuple[str, Any, Any]]:
    """(name, type, default) of a dataclass's fields, or of ``__init__``'s parameters after the first ``skip``.

    A parameter without a default becomes a required key (``???``); one
    without an annotation is typed by its default.
    """
    if dataclasses.is_dataclass(cls):
        hints = get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            default = f.default
            if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            out.append((f.name, hints.get(f.name, Any), MISSING if default is dataclasses.MISSING else default))
        return out
    hints = get_type_hints(cls.__init__)
    params = list(inspect.signature(cls.__init__).parameters.values())[1 + skip :]
    out = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = MISSING if p.default is p.empty else p.default
        kind = hints.get(p.name, type(default) if default is not MISSING and default is not None else Any)
        out.append((p.name, kind, default))
    return out


def schema(cls_name: str, name: str, fields: list[tuple[str, Any, Any]], target: str | None = None) -> type:
    """A config dataclass: ``name`` (the group option), ``_target_`` for a user's class, then ``fields``."""
    columns: list[tuple] = [("name", str, dataclasses.field(default=name))]
    if target is not None:
        columns.append(("_target_", str, dataclasses.field(default=target)))
    for key, kind, default in fields:
        if isinstance(default, (list, dict)):
            columns.append((key, kind, dataclasses.field(default_factory=lambda d=default: type(d)(d))))
        else:
            columns.append((key, kind, dataclasses.field(default=default)))
    return dataclasses.make_dataclass(cls_name, columns)


def field_help(cls: type) -> dict[str, str]:
    """The ``name: text`` lines of the ``Attributes:`` sections of ``cls``'s docstring and its bases'."""
    out = {"name": "the option chosen in this group", "_target_": "a class of your own, MODULE.CLASS (option custom)"}
    for klass in reversed(inspect.getmro(cls)):
        doc = inspect.getdoc(klass) if klass.__doc__ else None
        section = re.search(r"^Attributes:\n((?:[ \t]+.*\n?|\n)*)", doc or "", flags=re.M)
        if not section:
            continue
        key = None
        for line in section.group(1).splitlines():
            item = re.match(r"^\s{4}(\w+): (.*)$", line)
            if item:
                key = item.group(1)
                out[key] = item.group(2).strip()
            elif key and line.strip():
                out[key] += " " + line.strip()
    return out

"""``ntm summarize PATH...``: the runs of a sweep (or of any run directories) side by side, and their settings.

A sweep leaves one folder per job, and reading them one by one does not tell
which setting works. This reads every training run under each PATH (done,
stopped, still running or failed), prints a Markdown table of the runs and one
of the settings (runs equal but for their seed: how many solved; each figure's
median, min and max) and writes ``summary.csv`` and ``summary.json`` into each
PATH. It only reads runs: a sweep may still be going, and a file it finds cut
short counts as a run still running.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import math
import os
import re
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml

from ntm_cli import metrics
from ntm_cli.checkpoint import write_text_atomic
from ntm_cli.errors import ConfigError, NtmError

SEED = "seed"
FILES = ("summary.csv", "summary.json")
USAGE = "ntm summarize PATH... [--sort NAME] [--reverse]"
_HINT = "give a sweep folder (outputs/multirun/DATE/TIME) or a run directory written by ntm train"
_MISSING = "-"

T = TypeVar("T")


@dataclass(frozen=True)
class Run:
    """One run directory. job: its folder as shown; overrides: key -> value (None for ``~key``); status: done,
    stopped, running, failed or diverged, with ``error`` the one-line reason; figures: flat name -> number."""

    job: str
    overrides: dict[str, str | None]
    status: str
    error: str | None
    figures: dict[str, float]


@dataclass(frozen=True)
class Spread:
    """A figure over the runs of a setting that have it."""

    median: float
    min: float
    max: float
    count: int


@dataclass(frozen=True)
class Setting:
    """Runs equal but for their seed: their overrides (seed left out), how many ran and solved, each figure's spread."""

    overrides: dict[str, str | None]
    runs: int
    solved: int
    figures: dict[str, Spread]


@dataclass(frozen=True)
class Summary:
    """The runs and settings, the overrides every run shares (said once) and those that differ (the columns)."""

    runs: list[Run]
    settings: list[Setting]
    shared: dict[str, str | None]
    varying: list[str]
    figures: list[str]


# -- finding and reading runs ----------------------------------------------------------------------------------------


def is_run(folder: Path) -> bool:
    """A training run's folder: it holds metrics.json, or the .hydra/overrides.yaml a run writes when it starts.

    An ``ntm eval`` folder (eval.json, eval.log) is not one, even with a .hydra/ of its own.
    """
    if (folder / "metrics.json").is_file():
        return True
    is_eval = (folder / "eval.json").exists() or (folder / "eval.log").exists()
    return (folder / ".hydra" / "overrides.yaml").is_file() and not is_eval


def _natural(path: Path) -> list[Any]:
    """Sorts ``seed=2`` before ``seed=10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.as_posix())]


def find_runs(path: Path) -> list[Path]:
    """The run directories at or under ``path`` (runs hold no runs: their checkpoints/, tb/ and eval/ are skipped)."""
    if not path.exists():
        raise NtmError(f"{path} does not exist; {_HINT}")
    if not path.is_dir():
        raise NtmError(f"{path} is a file, not a folder; {_HINT}")
    found = []
    for folder, subfolders, _ in os.walk(path):
        if is_run(Path(folder)):
            found.append(Path(folder))
            subfolders.clear()
    if not found:
        raise NtmError(f"{path} holds no training runs (no metrics.json or .hydra/overrides.yaml under it); {_HINT}")
    return sorted(found, key=_natural)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object, or None for a file that is missing, cut short or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_overrides(path: Path) -> list[str] | None:
    """The override strings of a run's .hydra/overrides.yaml (a YAML list), or None where it cannot be read."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return [str(item) for item in data] if isinstance(data, list) else None


def split_dirname(text: str) -> list[str]:
    """Hydra's ``override_dirname`` (``a=1,b=[2,3]``), as a failed job records it, back into its overrides.

    A comma inside brackets or quotes, or escaped with a backslash, belongs to a value.
    """
    parts, current, depth, quote, escaped = [], "", 0, "", False
    for char in text:
        if escaped or char == "\\":
            escaped = not escaped
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += char
    return [part for part in [*parts, current] if part]


def parse_overrides(overrides: Iterable[str]) -> dict[str, str | None]:
    """``["a=1", "~b"]`` -> ``{"a": "1", "~b": None}``, in their order."""
    out: dict[str, str | None] = {}
    for text in overrides:
        key, equals, value = text.partition("=")
        out[key] = value if equals else None
    return out


def figures(record: dict[str, Any]) -> dict[str, float]:
    """A metrics.json's numbers, by flat name: steps, wall_seconds, validation.NAME, best.NAME, solved_at_*."""
    out = {key: record[key] for key in ("steps", "wall_seconds") if _is_number(record.get(key))}
    for part in ("validation", "best"):
        values = record.get(part)
        if isinstance(values, dict):
            out |= {
                f"{part}.{k}": v for k, v in values.items() if _is_number(v) and (part, k) != ("validation", "step")
            }
    out |= {key: value for key, value in record.items() if key.startswith("solved_at_") and _is_number(value)}
    return out


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_run(folder: Path, job: str) -> Run:
    """The row of one run directory; what is missing or unreadable makes it a run still going, never an error."""
    record = read_json(folder / "metrics.json") or {}
    overrides = _read_overrides(folder / ".hydra" / "overrides.yaml")
    job_id = record.get("job")
    if overrides is None and isinstance(job_id, dict) and isinstance(job_id.get("overrides"), str):
        overrides = split_dirname(job_id["overrides"])
    status = record.get("status")
    error = record.get("error")
    return Run(
        job=job,
        overrides=parse_overrides(overrides or []),
        status=status if isinstance(status, str) else "running",
        error=" ".join(str(error).split()) if error is not None else None,
        figures=figures(record),
    )


def _bare(key: str) -> str:
    """An override's key without its ``+``, ``++`` or ``~`` prefix."""
    return key.lstrip("+~")


def swept_keys(folders: Iterable[Path]) -> set[str]:
    """The keys swept (``seed=0,1,2``) by the sweeps whose multirun.yaml is in one of ``folders``.

    They are columns even while a sweep has run one of their values so far.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    keys = set()
    for folder in set(folders):
        try:
            data = yaml.safe_load((folder / "multirun.yaml").read_text())
            overrides = data["hydra"]["overrides"]["task"]
        except (OSError, yaml.YAMLError, KeyError, TypeError):
            continue
        for text in overrides if isinstance(overrides, list) else []:
            try:
                override = parser.parse_override(str(text))
            except HydraException:
                continue
            if override.is_sweep_override():
                keys.add(_bare(override.get_key_element()))
    return keys


# -- summarizing -----------------------------------------------------------------------------------------------------


def figure_names() -> list[str]:
    """The figures a training run's metrics.json may hold, in the tables' order."""
    validation = [m.name for m in metrics.METRICS if m.kind == metrics.SEQUENCE and metrics.VALIDATION in m.phases]
    return [
        "steps",
        "wall_seconds",
        *(f"validation.{name}" for name in validation),
        "best.step",
        *(f"best.{name}" for name in validation),
        "solved_at_step",
        "solved_at_sequences",
        "solved_at_seconds",
    ]


def _columns(runs: Sequence[Run]) -> list[str]:
    """The figures some run has: the known ones in their order, then any other (a plugin's metric) as found."""
    found = list(dict.fromkeys(name for run in runs for name in run.figures))
    known = figure_names()
    return [name for name in known if name in found] + [name for name in found if name not in known]


def split_overrides(runs: Sequence[Run], swept: set[str]) -> tuple[dict[str, str | None], list[str]]:
    """The overrides every run has alike (said once), and the keys that differ between runs or that a sweep sweeps."""
    keys = list(dict.fromkeys(key for run in runs for key in run.overrides))
    varying = [k for k in keys if _bare(k) in swept or len({run.overrides.get(k, "\0") for run in runs}) > 1]
    return {k: runs[0].overrides[k] for k in keys if k not in varying}, varying


def spread(values: list[float]) -> Spread | None:
    """The median, min and max of the finite ``values``; None where there are none."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    return Spread(statistics.median(finite), min(finite), max(finite), len(finite))


def is_seed(key: str) -> bool:
    """Whether an override key is the seed (``seed``, ``+seed``, ``++seed``)."""
    return _bare(key) == SEED


def seed_of(overrides: dict[str, str | None]) -> str | None:
    """A run's seed override, None where it has none."""
    return _override(overrides, SEED)


def seedless(overrides: dict[str, str | None]) -> dict[str, str | None]:
    """A run's overrides but its seed: what names its setting (a Setting's ``overrides``)."""
    return {k: v for k, v in overrides.items() if _bare(k) != SEED}


def settings(runs: Sequence[Run], names: Sequence[str]) -> list[Setting]:
    """The runs grouped by their overrides but the seed, in the order they come; failed runs count but add no figure."""
    groups: dict[tuple[tuple[str, str | None], ...], list[Run]] = {}
    for run in runs:
        groups.setdefault(tuple(sorted(seedless(run.overrides).items())), []).append(run)
    out = []
    for key, members in groups.items():
        spreads = {name: spread([r.figures[name] for r in members if name in r.figures]) for name in names}
        figures_ = {name: values for name, values in spreads.items() if values is not None}
        out.append(Setting(dict(key), len(members), sum("solved_at_step" in r.figures for r in members), figures_))
    return out


def summarize(runs: Sequence[Run], swept: set[str]) -> Summary:
    """The runs with their settings, shared overrides, differing override keys and figure columns."""
    shared, varying = split_overrides(runs, swept)
    names = _columns(runs)
    return Summary(list(runs), settings(runs, names), shared, varying, names)


# -- sorting ---------------------------------------------------------------------------------------------------------


def sort_names(summary: Summary) -> list[str]:
    """What ``--sort`` takes: every figure a run may have, and every override key."""
    keys = [_bare(k) for run in summary.runs for k in run.overrides]
    return list(dict.fromkeys([*figure_names(), *summary.figures, *keys]))


def _comparable(value: object) -> tuple[int, float, str] | None:
    """Numbers (also ``0.01`` as an override's text) before other text; None for a value missing or NaN."""
    if isinstance(value, str):
        try:
            return _comparable(float(value))
        except ValueError:
            return (1, 0.0, value)
    if isinstance(value, (int, float)) and not math.isnan(value):
        return (0, float(value), "")
    return None


def ordered(items: Sequence[T], value: Callable[[T], object], reverse: bool) -> list[T]:
    """``items`` by ``value``, ascending (descending with ``reverse``); those without a value last, as they came."""
    having = [item for item in items if _comparable(value(item)) is not None]
    missing = [item for item in items if _comparable(value(item)) is None]
    return sorted(having, key=lambda item: _comparable(value(item)), reverse=reverse) + missing


def _override(overrides: dict[str, str | None], name: str) -> str | None:
    return next((v for k, v in overrides.items() if _bare(k) == name), None)


def sort(summary: Summary, name: str, reverse: bool) -> Summary:
    """The summary with its runs sorted by column ``name`` and its settings by their median of it."""
    names = sort_names(summary)
    if name not in names:
        raise ConfigError(f"--sort {name} is not a column; choose one of: {', '.join(names)}")

    def of_run(run: Run) -> object:
        return run.figures.get(name, _override(run.overrides, name))

    def of_setting(setting: Setting) -> object:
        spread = setting.figures.get(name)
        return spread.median if spread is not None else _override(setting.overrides, name)

    runs = ordered(summary.runs, of_run, reverse)
    return dataclasses.replace(summary, runs=runs, settings=ordered(summary.settings, of_setting, reverse))


# -- output ----------------------------------------------------------------------------------------------------------


def number(value: float) -> str:
    """A figure in 4 significant digits, whole numbers as integers: 17.29, 0.095, 3200, 12346."""
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def _override_text(key: str, value: str | None) -> str:
    return key if value is None else f"{key}={value}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> str:
    """A Markdown table, padded to line up in a terminal; numeric columns aligned right."""
    cells = [[cell.replace("|", "\\|") for cell in row] for row in [headers, *rows]]
    widths = [max(3, *(len(row[i]) for row in cells)) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        padded = [c.rjust(w) if right else c.ljust(w) for c, w, right in zip(row, widths, numeric, strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if right else "-") for w, right in zip(widths, numeric, strict=True))
    return "\n".join([line(cells[0]), rule + "|", *(line(row) for row in cells[1:])])


def _status(run: Run) -> str:
    return f"{run.status}: {run.error}" if run.error else run.status


def runs_table(summary: Summary) -> str:
    """One row per run: the overrides that differ, status, each figure, and the job folder."""
    headers = [*summary.varying, "status", *summary.figures, "job"]
    rows = [
        [
            *(run.overrides.get(k) or _MISSING for k in summary.varying),
            _status(run),
            *(number(run.figures[n]) if n in run.figures else _MISSING for n in summary.figures),
            run.job,
        ]
        for run in summary.runs
    ]
    numeric = [False] * (len(summary.varying) + 1) + [True] * len(summary.figures) + [False]
    return markdown_table(headers, rows, numeric)


def spread_text(values: Spread | None) -> str:
    """``median [min, max]``, the median alone where all agree, ``-`` for none."""
    if values is None:
        return _MISSING
    if values.min == values.max:
        return number(values.median)
    return f"{number(values.median)} [{number(values.min)}, {number(values.max)}]"


def settings_table(summary: Summary) -> str:
    """One row per setting: the overrides that differ (not the seed), runs, solved, each figure's median [min, max]."""
    keys = [k for k in summary.varying if _bare(k) != SEED]
    headers = [*keys, "runs", "solved", *summary.figures]
    rows = [
        [
            *(s.overrides.get(k) or _MISSING for k in keys),
            str(s.runs),
            f"{s.solved}/{s.runs}",
            *(spread_text(s.figures.get(n)) for n in summary.figures),
        ]
        for s in summary.settings
    ]
    numeric = [False] * len(keys) + [True] * (2 + len(summary.figures))
    return markdown_table(headers, rows, numeric)


def report(summary: Summary, sorted_by: str | None) -> str:
    """What ``ntm summarize`` prints: the shared overrides, the runs and the settings, as Markdown."""
    shared = " ".join(_override_text(k, v) for k, v in summary.shared.items())
    order = f", sorted by {sorted_by}" if sorted_by else ""
    lines = [f"every run: {shared}", ""] if shared else []
    lines += [f"## Runs ({len(summary.runs)}{order})", "", runs_table(summary), ""]
    lines += [f"## Settings over seeds ({len(summary.settings)}{order})", "", settings_table(summary)]
    return "\n".join(lines) + "\n"


def to_csv(summary: Summary) -> str:
    """summary.csv: one line per run; job, status, error, a column per override key, a column per figure."""
    keys = list(dict.fromkeys(k for run in summary.runs for k in run.overrides))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["job", "status", "error", *keys, *summary.figures])
    for run in summary.runs:
        values = [run.overrides.get(k, "") for k in keys] + [run.figures.get(n, "") for n in summary.figures]
        writer.writerow([run.job, run.status, run.error or "", *values])
    return out.getvalue()


def to_json(summary: Summary) -> str:
    """summary.json: the shared overrides, the runs and the settings (each figure's median, min, max and count)."""
    data = {
        "shared_overrides": summary.shared,
        "varying_overrides": summary.varying,
        "runs": [dataclasses.asdict(run) for run in summary.runs],
        "settings": [dataclasses.asdict(setting) for setting in summary.settings],
    }
    return json.dumps(data, indent=2) + "\n"


def write(summary: Summary, folder: Path) -> list[Path]:
    """Writes summary.csv and summary.json into ``folder``, atomically; returns their paths."""
    paths = [folder / name for name in FILES]
    try:
        write_text_atomic(paths[0], to_csv(summary))
        write_text_atomic(paths[1], to_json(summary))
    except OSError as ex:
        raise NtmError(
            f"cannot write {ex.filename or folder}: {ex.strerror or ex}; the tables above are complete, "
            "the files need a folder you can write"
        ) from None
    return paths


# -- the command -----------------------------------------------------------------------------------------------------


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a mistake reported as one line (ConfigError: exit 2) rather than usage and ``exit``."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message}; usage: {self.usage}")


def parser() -> argparse.ArgumentParser:
    """``ntm summarize``'s options; its help is what ``ntm summarize --help`` prints."""
    out = OneLineParser(
        prog="ntm summarize",
        usage=USAGE,
        description="A table of the runs of a sweep (or of any run directories) and one of their settings over "
        "seeds: how many solved, and each figure's median [min, max]. Printed as Markdown; summary.csv and "
        "summary.json are written into each PATH.",
    )
    out.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="a sweep folder (searched) or a run directory")
    out.add_argument("--sort", metavar="NAME", help="sort by a column: steps, best.cost_bits_per_sequence, seed, ...")
    out.add_argument("--reverse", action="store_true", help="sort descending (runs without the value stay last)")
    return out


def found_runs(path: Path) -> tuple[list[Run], set[Path]]:
    """The runs under ``path`` (each job named from ``path`` on), and the folders at or under it that may hold
    their sweep's multirun.yaml."""
    folders = find_runs(path)
    sweeps = {path} | {f.parent for f in folders if f != path}
    return [read_run(f, f.relative_to(path).as_posix()) for f in folders], sweeps


def _summary(runs: list[Run], sweeps: set[Path], sort_by: str | None, reverse: bool) -> Summary:
    found = summarize(runs, swept_keys(sweeps))
    return sort(found, sort_by, reverse) if sort_by else found


def of_sweep(path: Path) -> tuple[str, list[Path]]:
    """The tables of the runs under ``path`` and the files written there (a sweep's end writes them too)."""
    runs, folders = found_runs(path)
    found = _summary(runs, folders, None, False)
    return report(found, None), write(found, path)


def command(args: Sequence[str]) -> int:
    """``ntm summarize PATH... [--sort NAME] [--reverse]``: prints the tables, writes the files into each PATH.

    With several PATHs the tables hold every run (each job named with its PATH); each PATH's files hold its own.
    """
    if "-h" in args or "--help" in args:
        print(parser().format_help(), end="")
        return 0
    options = parser().parse_args(list(args))
    found = {path: found_runs(path) for path in options.paths}
    if len(found) == 1:
        every, sweeps = next(iter(found.values()))
    else:
        every = [dataclasses.replace(r, job=(p / r.job).as_posix()) for p, (runs, _) in found.items() for r in runs]
        sweeps = set().union(*(folders for _, folders in found.values()))
    print(report(_summary(every, sweeps, options.sort, options.reverse), options.sort), end="")
    for path, (runs, folders) in found.items():
        written = write(_summary(runs, folders, options.sort, options.reverse), path)
        print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0

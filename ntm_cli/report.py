"""``ntm report PATH... [--out DIR]``: ``ntm summarize``'s tables with the figures behind them, as report.md.

The tables say where runs ended; the figures say how they got there and how
far they carry. Into DIR go ``report.md`` (readable on any Git host: the
command, the tables, the figures with a caption each), ``learning_curves.png``
(validation cost against sequences trained on, from each run's tb/) and, once
some run has been through ``ntm eval``, ``generalisation.png`` (bit errors
against the size of the sequences). Each line is a setting (runs equal but for
their seed): the median over its seeds, with their min-max as a band (and
each seed's own line, thin, in generalisation.png). Like
``ntm summarize`` it only reads runs; a run still going is left out of the
figures.
"""

from __future__ import annotations

import dataclasses
import math
import re
import shlex
import statistics
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ntm_cli import summary
from ntm_cli.checkpoint import write_text_atomic
from ntm_cli.errors import ConfigError, NtmError
from ntm_cli.summary import Run, Setting, Summary

USAGE = "ntm report PATH... [--out DIR] [--memory-n N]"
REPORT, CURVES, GENERALISATION = "report.md", "learning_curves.png", "generalisation.png"
CURVE_METRIC = "cost_bits_per_sequence"  # the tb/ scalar val/NAME the learning curves draw
EVAL_METRIC = "bit_errors_per_sequence"  # the eval.json figure the generalisation plot draws
INSTALL_HINT = 'pip install -e ".[plot]"'
_DECADES = 2  # more than this many decades between the smallest and largest value: a log y-scale
_LINEAR_BELOW = 0.01  # a symmetric log y-scale is linear from 0 to this
_SIZE = re.compile(r"(?:(?P<word>length|items) (?P<n>\d+)|(?P<m>\d+) (?P<unit>inputs|bits))")


@dataclass(frozen=True)
class RunDir:
    """A run directory with its row of the summary, its task, batch size and memory locations (None where no config
    says)."""

    folder: Path
    run: Run
    task: str | None
    batch_size: int | None
    memory_n: int | None = None


@dataclass(frozen=True)
class Band:
    """One setting's line: at each x, the median, min and max over the seeds that have a value there, and how many
    do (``seeds``); ``runs``: how many seeds the line draws on."""

    label: str
    runs: int
    x: list[float]
    median: list[float]
    low: list[float]
    high: list[float]
    seeds: list[int]
    each: tuple[tuple[tuple[float, float], ...], ...] = ()  # each seed's own points, drawn thin (generalisation)


@dataclass(frozen=True)
class Panel:
    """One task's plot: its lines, what x is, and the training range to shade (generalisation only)."""

    task: str
    xlabel: str
    bands: list[Band]
    span: tuple[float, float] | None = None


# -- reading runs ----------------------------------------------------------------------------------------------------


def _setting_of(config: dict[str, Any], group: str, key: str) -> Any:
    part = config.get(group)
    return part.get(key) if isinstance(part, dict) else None


def train_config(folder: Path) -> dict[str, Any]:
    """The config a run trained with: its .hydra/config.yaml, else its last checkpoint's (a run made by ``train()``
    in Python has no .hydra/); empty where neither can be read (a job refused before it started)."""
    try:
        data = yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        data = None
    if isinstance(data, dict):
        return data
    last = folder / "checkpoints" / "last.pt"
    if not last.is_file():
        return {}
    from ntm_cli import checkpoint

    try:
        saved = checkpoint.load(last)["config"]
    except NtmError:  # cut short while the run saves it
        return {}
    return saved if isinstance(saved, dict) else {}


def run_dir(folder: Path, run: Run) -> RunDir:
    """A run with its folder, and the task, batch size and memory locations its config names."""
    config = train_config(folder)
    task, batch = _setting_of(config, "task", "name"), _setting_of(config, "train", "batch_size")
    memory_n = _setting_of(config, "model", "memory_n")
    return RunDir(
        folder,
        run,
        task if isinstance(task, str) else None,
        batch if isinstance(batch, int) else None,
        memory_n if isinstance(memory_n, int) else None,
    )


def read_runs(paths: Sequence[Path]) -> tuple[Summary, list[RunDir]]:
    """The runs under ``paths`` as ``ntm summarize`` reads them (jobs named from their PATH, or with it when there
    are several) and their summary."""
    dirs, sweeps = [], set()
    for path in dict.fromkeys(paths):
        found, folders = summary.found_runs(path)
        sweeps |= folders
        for run in found:
            folder = path / run.job
            dirs.append(run_dir(folder, dataclasses.replace(run, job=folder.as_posix()) if len(paths) > 1 else run))
    return summary.summarize([d.run for d in dirs], summary.swept_keys(sweeps)), dirs


def validation_series(folder: Path, name: str = CURVE_METRIC) -> list[tuple[int, float]]:
    """The scalar ``val/NAME`` of a run's tb/ as (step, value) by step; where a step repeats (a run resumed from an
    earlier checkpoint writes it again) the last value counts. Empty without tb/ or that scalar."""
    if not (folder / "tb").is_dir():
        return []
    from tensorboard.backend.event_processing import event_accumulator

    events = event_accumulator.EventAccumulator(str(folder / "tb"), size_guidance={event_accumulator.SCALARS: 0})
    events.Reload()  # size 0 above: every point, not a sample of 10,000
    tag = f"val/{name}"
    if tag not in events.Tags()["scalars"]:
        return []
    return sorted({event.step: event.value for event in events.Scalars(tag)}.items())


def eval_rows(
    folder: Path, memory_n: int | None = None, trained_n: int | None = None
) -> tuple[str, str, dict[str, dict[str, float]]] | None:
    """A run's evaluations (RUN/eval/DATE_TIME/eval.json) made with ``memory_n`` memory locations (default: the
    ``trained_n`` it trained with), merged oldest first, a later one winning a row they share: the task, its training
    range, each row's metrics; None without any. An evaluation of a model without memory (the LSTM) always counts."""
    task, train_range, rows = None, None, {}
    for path in sorted((folder / "eval").glob("*/eval.json")):
        data = summary.read_json(path)  # None for one cut short while ntm eval writes it
        if data is None or not isinstance(data.get("rows"), dict):
            continue
        asked = ((data.get("config") or {}).get("eval") or {}).get("memory_n")
        used = data.get("memory_n", asked)  # None: a model without memory
        wanted = memory_n if memory_n is not None else trained_n
        own = memory_n is None and asked is None  # its own memory, where the run's config cannot say how large
        if not (used is None or used == wanted or own):
            continue
        task, train_range = data.get("task"), data.get("train_range")
        rows |= {name: values for name, values in data["rows"].items() if isinstance(values, dict)}
    return (str(task), str(train_range), rows) if rows else None


# -- the arrays behind the figures -----------------------------------------------------------------------------------


def band(label: str, series: Sequence[Sequence[tuple[float, float]]]) -> Band:
    """One line over seeds (each seed's (x, value) points): at each x some seed has, the median, min and max of the
    finite values there. Seeds validated at the same steps line up; after a seed stops (it solved early, say), the
    line and band are those of the seeds that go on."""
    at: dict[float, list[float]] = {}
    for points in series:
        for x, y in points:
            if math.isfinite(y):
                at.setdefault(x, []).append(y)
    xs = sorted(at)
    return Band(
        label,
        sum(1 for points in series if points),
        xs,
        [statistics.median(at[x]) for x in xs],
        [min(at[x]) for x in xs],
        [max(at[x]) for x in xs],
        [len(at[x]) for x in xs],
    )


def setting_label(setting: Setting, varying: Sequence[str]) -> str:
    """A setting's overrides that differ between settings, as the summary's columns show them (the seed is none)."""
    shown = [
        k if setting.overrides[k] is None else f"{k}={setting.overrides[k]}" for k in varying if k in setting.overrides
    ]
    if shown:
        return " ".join(shown)
    others = [k for k in varying if not summary.is_seed(k)]
    return f"{', '.join(others)} at the default" if others else "all runs"


def _seeds(n: int) -> str:
    return f"({n} seed{'' if n == 1 else 's'})"


def by_setting(found: Summary, runs: Sequence[RunDir]) -> list[tuple[str, list[RunDir]]]:
    """Each setting's label and its runs, in the summary's order."""
    return [
        (setting_label(s, found.varying), [r for r in runs if summary.seedless(r.run.overrides) == s.overrides])
        for s in found.settings
    ]


def learning_curves(found: Summary, runs: Sequence[RunDir], name: str = CURVE_METRIC) -> list[Panel]:
    """A panel per task: for each setting, validation ``name`` against sequences trained on (step x batch size, per
    run) over its seeds. Runs still going, or without tb/, a task or a batch size, are left out."""
    panels: dict[str, list[Band]] = {}
    for label, members in by_setting(found, runs):
        usable = [r for r in members if r.run.status != "running" and r.task and r.batch_size]
        for task in dict.fromkeys(r.task for r in usable):
            series = [
                [(s * r.batch_size, v) for s, v in validation_series(r.folder, name)] for r in usable if r.task == task
            ]
            line = band(label, series)
            if line.x:
                panels.setdefault(task, []).append(dataclasses.replace(line, label=f"{label} {_seeds(line.runs)}"))
    return [Panel(task, "sequences (steps x batch size)", bands) for task, bands in panels.items()]


def row_size(name: str) -> tuple[str, int, str] | None:
    """An eval.json row's size: ``length 20`` -> ("length", 20, ""), ``items 6``, ``20 inputs, 16 outputs`` ->
    ("inputs", 20, ""), ``200 bits``; ``length 20, repeats 10`` -> ("length", 20, "repeats 10"), the repeats
    making lines of their own. None for a range (``length 1-20``, the training distribution)."""
    first, *rest = name.split(", ")
    match = _SIZE.fullmatch(first)
    if match is None:
        return None
    word = match["word"] or match["unit"]
    return word, int(match["n"] or match["m"]), ", ".join(p for p in rest if p.startswith("repeats "))


def training_span(train_range: str) -> tuple[float, float] | None:
    """The sizes trained on, from eval.json's ``train_range`` (``length 1-20, ...`` -> (1, 20); ``20 inputs, ...``
    -> (20, 20)); None where it names no size."""
    numbers = [int(n) for n in re.findall(r"\d+", train_range.split(", ")[0])]
    return (min(numbers), max(numbers)) if numbers else None


Evaluations = dict[Path, tuple[str, str, dict[str, dict[str, float]]] | None]  # eval_rows by run folder


def evaluations(runs: Sequence[RunDir], memory_n: int | None = None) -> Evaluations:
    """Each run's ``eval_rows`` made with ``memory_n`` locations (default: its own), by folder."""
    return {r.folder: eval_rows(r.folder, memory_n, r.memory_n) for r in runs}


def generalisation(
    found: Summary,
    runs: Sequence[RunDir],
    name: str = EVAL_METRIC,
    memory_n: int | None = None,
    evals: Evaluations | None = None,
) -> list[Panel]:
    """A panel per task: for each setting (and repeat count, for repeat copy), ``name`` from its runs' eval.json
    (``evals``, else those made with ``memory_n`` locations) against each row's size, over its seeds; the training
    range as the span to shade."""
    evals = evaluations(runs, memory_n) if evals is None else evals
    panels: dict[str, Panel] = {}
    for label, members in by_setting(found, runs):
        points: dict[tuple[str, str, str], dict[Path, list[tuple[float, float]]]] = {}
        for r in members:
            task, train_range, rows = evals[r.folder] or ("", "", {})
            for row, values in rows.items():
                size = row_size(row)
                if size is not None and isinstance(values.get(name), (int, float)):
                    word, x, variant = size
                    points.setdefault((task, word, variant), {}).setdefault(r.folder, []).append((x, values[name]))
                    panels.setdefault(task, Panel(task, word, [], training_span(train_range)))
        for (task, _, variant), per_seed in points.items():
            series = list(per_seed.values())
            line = band(label, series)
            text = f"{label}, {variant}" if variant else label
            each = tuple(tuple(sorted(points)) for points in series) if len(series) > 1 else ()
            panels[task].bands.append(dataclasses.replace(line, label=f"{text} {_seeds(line.runs)}", each=each))
    return [panel for panel in panels.values() if panel.bands]


def generalisation_tables(
    found: Summary,
    runs: Sequence[RunDir],
    name: str = EVAL_METRIC,
    memory_n: int | None = None,
    evals: Evaluations | None = None,
) -> dict[str, str]:
    """Per task, ``name`` from the runs' eval.json (``evals``, else those made with ``memory_n`` locations) as a
    Markdown table: a row per evaluated run (the overrides that differ, its seed, a column per eval row, the
    training range first) and, under a setting's runs when it has several, their median [min, max]."""
    evals = evaluations(runs, memory_n) if evals is None else evals
    keys = [k for k in found.varying if not summary.is_seed(k)]
    out = {}
    for task in dict.fromkeys(e[0] for e in evals.values() if e):
        columns = list(dict.fromkeys(row for e in evals.values() if e and e[0] == task for row in e[2]))
        rows = []
        for setting, (_, members) in zip(found.settings, by_setting(found, runs), strict=True):
            evaluated = [(r, e[2]) for r in members if (e := evals[r.folder]) and e[0] == task]
            for r, values in evaluated:
                seed = summary.seed_of(r.run.overrides) or "-"
                rows.append(
                    [*(r.run.overrides.get(k) or "-" for k in keys), seed, *(_value(values, c, name) for c in columns)]
                )
            if len(evaluated) > 1:
                spreads = [
                    summary.spread([v for _, d in evaluated if (v := _number(d, c, name)) is not None]) for c in columns
                ]
                label = [setting.overrides.get(k) or "-" for k in keys]
                rows.append([*label, f"median of {len(evaluated)}", *(summary.spread_text(x) for x in spreads)])
        numeric = [False] * (len(keys) + 1) + [True] * len(columns)
        out[task] = summary.markdown_table([*keys, "seed", *columns], rows, numeric)
    return out


def _target_of(task: str | None):
    """The task class of a run's task name, for its target; None for a custom task or none named."""
    from ntm_cli.tasks import TASKS

    return TASKS.get(task) if task else None


def targets_table(found: Summary, runs: Sequence[RunDir]) -> str | None:
    """A row per setting and task that has a target: the target, how many of the setting's runs reached it with
    their best validation (best.pt's), and that figure's median [min, max]; None when no run's task has one."""
    keys = [k for k in found.varying if not summary.is_seed(k)]
    named = any(k.lstrip("+") == "task" for k in keys)  # the task is a column already
    rows = []
    for setting, (_, members) in zip(found.settings, by_setting(found, runs), strict=True):
        for task in dict.fromkeys(r.task for r in members):
            cls = _target_of(task)
            if cls is None or cls.target is None:
                continue
            bests = [_best(r.run) for r in members if r.task == task]
            figures = [f for f in (cls.target_figure(b) for b in bests) if f is not None]
            reached = sum(bool(cls.reached_target(b)) for b in bests)
            label = [setting.overrides.get(k) or "-" for k in keys] + ([] if named else [str(task)])
            spread = summary.spread_text(summary.spread(figures))
            rows.append([*label, str(cls.target_text()), f"{reached}/{len(bests)}", spread])
    if not rows:
        return None
    headers = [*keys, *([] if named else ["task"]), "target", "reached", "best figure"]
    return summary.markdown_table(headers, rows, [False] * (len(headers) - 2) + [True, True])


def _best(run: Run) -> dict[str, float]:
    """A run's best validation (the one best.pt holds) by metric name."""
    return {name[len("best.") :]: value for name, value in run.figures.items() if name.startswith("best.")}


def _number(values: dict[str, dict[str, float]], row: str, name: str) -> float | None:
    value = values.get(row, {}).get(name)
    return float(value) if isinstance(value, (int, float)) else None


def _value(values: dict[str, dict[str, float]], row: str, name: str) -> str:
    value = _number(values, row, name)
    return "-" if value is None else summary.number(value)


def wide(panel: Panel) -> bool:
    """Whether a panel's positive values span more than two decades (then a log y-scale shows them all)."""
    values = [v for b in panel.bands for v in (*b.low, *b.high) if v > 0]
    return bool(values) and max(values) > min(values) * 10**_DECADES


# -- drawing ---------------------------------------------------------------------------------------------------------


def require_matplotlib() -> None:
    """Raises ConfigError, before anything is read or written, where matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError(f"ntm report draws with matplotlib, which is not installed: {INSTALL_HINT}") from None


def stretched(panel: Panel) -> bool:
    """Whether a generalisation panel has values over 1 beside values under it, zeros included: then a symmetric
    log y-scale, linear below ``_LINEAR_BELOW``, shows a run's 0.05 bit errors and another's 400 both."""
    values = [v for b in panel.bands for v in (*b.low, *b.high)]
    return bool(values) and max(values) > 1 and min(values) < 1


# Legend labels are wrapped at this many characters; a panel with longer labels has its legend below it.
_LABEL_WIDTH = 60


def draw(panels: Sequence[Panel], ylabel: str, path: Path, log_scale: bool = False, symlog: bool = False) -> None:
    """One PNG, a panel per task (two to a row): each band a line (the median) over a shaded area (min to max).
    ``log_scale``: a log y-scale for a ``wide`` panel; ``symlog``: a symmetric log one for a ``stretched`` panel.
    Drawn on an Agg canvas of its own: pyplot's global state and backend are left alone."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = min(2, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(6.4 * columns, 4.4 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = list(figure.subplots(rows, columns, squeeze=False).flat)
    for ax, panel in zip(axes, panels, strict=False):
        if panel.span is not None:
            low, high = panel.span
            ax.axvspan(low - 0.5, high + 0.5, color="0.9", label="trained on")
        for line in panel.bands:
            label = textwrap.fill(line.label, _LABEL_WIDTH)
            (drawn,) = ax.plot(line.x, line.median, marker="o", markersize=3, label=label)
            ax.fill_between(line.x, line.low, line.high, color=drawn.get_color(), alpha=0.2, linewidth=0)
            for points in line.each:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, color=drawn.get_color(), linewidth=0.8, alpha=0.6, linestyle="--")
        ax.set(title=panel.task, xlabel=panel.xlabel, ylabel=ylabel)
        if log_scale and wide(panel):
            ax.set_yscale("log")
        elif symlog and stretched(panel):
            ax.set_yscale("symlog", linthresh=_LINEAR_BELOW)
            ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        if any(len(line.label) > _LABEL_WIDTH for line in panel.bands):  # below the axes, not over the lines
            ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.24))
        else:
            ax.legend(fontsize="small")
    for ax in axes[len(panels) :]:  # the empty cell of an odd number of panels
        ax.set_visible(False)
    figure.savefig(path, dpi=110)


# -- the report ------------------------------------------------------------------------------------------------------


def curves_caption(panels: Sequence[Panel], runs: int) -> str:
    """What learning_curves.png shows, with its log scale, uneven seeds and runs left out said where they apply."""
    text = (
        f"Validation `{CURVE_METRIC}` against sequences trained on (steps x batch size): per setting, the median "
        "over its seeds (line) and their min-max (band)."
    )
    logged = [p.task for p in panels if wide(p)]
    if logged:
        where = f" ({', '.join(logged)})" if len(panels) > 1 else ""
        text += f" Log y-scale{where}: the values span more than {_DECADES} decades."
    if any(len(set(b.seeds)) > 1 for p in panels for b in p.bands):
        text += (
            " Not every seed has every point (one stopped early, solved say): there, line and band are over the seeds"
            " that have it."
        )
    left_out = runs - sum(b.runs for p in panels for b in p.bands)
    if left_out > 0:
        text += f" {left_out} run{'' if left_out == 1 else 's'} not drawn: still running, or no validation in tb/."
    return text


GENERALISATION_CAPTION = (
    f"`{EVAL_METRIC}` from `ntm eval` (eval.json) against each row's size (length, items or inputs): per setting, "
    "the median over its seeds (line), their min-max (band) and each seed (thin dashed lines); the grey span is the "
    "range trained on."
)


def generalisation_caption(memory_n: int | None, panels: Sequence[Panel] = ()) -> str:
    """What generalisation.png shows: its symmetric log scale where it has one, and with which memory the runs were
    evaluated."""
    text = GENERALISATION_CAPTION
    if any(stretched(p) for p in panels):
        text += (
            f" Symmetric log y-scale, linear from 0 to {_LINEAR_BELOW}: values near 0 and in the hundreds both show."
        )
    if memory_n is None:
        return f"{text} Each run evaluated with the memory it trained with."
    return f"{text} Every run evaluated with {memory_n} memory locations (`eval.memory_n={memory_n}`)."


TARGETS_CAPTION = (
    "Each task's target (set from the paper's NTM), and how many runs of each setting reached it with their best "
    "validation (the one in best.pt); best figure: that validation's figure, median [min, max] over the runs."
)
NO_EVALUATIONS = (
    "No run has been evaluated yet: `ntm eval checkpoint=RUN` writes RUN/eval/DATE_TIME/eval.json "
    "(`eval.lengths=[20,40]` picks the sizes), and the next `ntm report` draws it here."
)


def _figure(title: str, file: str, caption: str) -> list[str]:
    return [f"## {title}", "", f"![{title}]({file})", "", f"*{caption}*", ""]


def markdown(
    command_line: str,
    paths: Sequence[Path],
    found: Summary,
    curves: str | None,
    evals: str | None,
    tables: dict[str, str] | None = None,
    targets: str | None = None,
) -> str:
    """report.md: a title, the command that made it, the summary's tables, then each figure with its caption (or
    why there is none), the evaluations run by run (``tables``, by task), and the task targets (``targets``)."""
    lines = [f"# Report on {', '.join(p.as_posix() for p in paths)}", "", f"Made by `{command_line}`.", ""]
    lines += [summary.report(found, None)]
    if targets:
        lines += ["## Targets", "", TARGETS_CAPTION, "", targets, ""]
    if curves is None:
        lines += ["## Learning curves", "", "No run has validation points in tb/ yet.", ""]
    else:
        lines += _figure("Learning curves", CURVES, curves)
    if evals is None:
        lines += ["## Generalisation", "", NO_EVALUATIONS, ""]
    else:
        lines += _figure("Generalisation", GENERALISATION, evals)
    for task, table in (tables or {}).items():
        lines += [f"### {task}: `{EVAL_METRIC}` by run", "", table, ""]
    return "\n".join(lines)


def _drawn(panels: Sequence[Panel], path: Path, ylabel: str, log_scale: bool, symlog: bool = False) -> list[Path]:
    """Draws ``panels`` into ``path``; with none, removes ``path`` (an earlier report's figure) and draws nothing."""
    if not panels:
        path.unlink(missing_ok=True)
        return []
    draw(panels, ylabel, path, log_scale, symlog)
    return [path]


def write(
    out: Path,
    command_line: str,
    paths: Sequence[Path],
    found: Summary,
    runs: Sequence[RunDir],
    memory_n: int | None = None,
) -> list[Path]:
    """Draws the figures there are and writes report.md into ``out``, the generalisation from the evaluations made
    with ``memory_n`` locations (default: each run's own); returns the files written, report.md first."""
    read = evaluations(runs, memory_n)  # every eval.json read once, for the figure and the tables
    curves, evals = learning_curves(found, runs), generalisation(found, runs, evals=read)
    figures = _drawn(curves, out / CURVES, f"validation {CURVE_METRIC}", True)
    figures += _drawn(evals, out / GENERALISATION, EVAL_METRIC, False, symlog=True)
    captions = (
        curves_caption(curves, len(runs)) if curves else None,
        generalisation_caption(memory_n, evals) if evals else None,
    )
    tables, targets = generalisation_tables(found, runs, evals=read), targets_table(found, runs)
    write_text_atomic(out / REPORT, markdown(command_line, paths, found, *captions, tables, targets))
    return [out / REPORT, *figures]


# -- the command -----------------------------------------------------------------------------------------------------


def parser() -> summary.OneLineParser:
    """``ntm report``'s options; its help is what ``ntm report --help`` prints."""
    out = summary.OneLineParser(
        prog="ntm report",
        usage=USAGE,
        description=f"ntm summarize's tables with learning curves (from each run's tb/) and, for runs evaluated by "
        f"ntm eval, generalisation: {REPORT}, {CURVES} and {GENERALISATION} in DIR. Needs matplotlib "
        f"({INSTALL_HINT}).",
    )
    out.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="a sweep folder (searched) or a run directory")
    out.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where to write (default: PATH/report, beside the runs it describes; needed with several PATHs)",
    )
    out.add_argument(
        "--memory-n",
        type=int,
        metavar="N",
        help="draw the evaluations made with N memory locations (ntm eval ... eval.memory_n=N), for runs trained "
        "with other memories (default: each run's evaluations with the memory it trained with)",
    )
    return out


def command(args: Sequence[str]) -> int:
    """``ntm report PATH... [--out DIR] [--memory-n N]``: writes the report, says where in one line."""
    if "-h" in args or "--help" in args:
        print(parser().format_help(), end="")
        return 0
    options = parser().parse_args(list(args))
    if options.memory_n is not None and options.memory_n < 1:
        raise ConfigError(f"--memory-n is a number of memory locations, at least 1; got {options.memory_n}")
    if options.out is None and len(options.paths) > 1:
        raise ConfigError("with several PATHs, say where the report goes: --out DIR")
    out = options.out or options.paths[0] / "report"
    require_matplotlib()
    found, runs = read_runs(options.paths)
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = write(out, shlex.join(["ntm", "report", *args]), options.paths, found, runs, options.memory_n)
    except OSError as ex:
        raise NtmError(
            f"cannot write {ex.filename or out}: {ex.strerror or ex}; give --out DIR, a folder you can write"
        ) from None
    print(f"wrote {written[0]}" + (f" with {', '.join(p.name for p in written[1:])}" if written[1:] else ""))
    return 0

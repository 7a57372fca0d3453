"""``ntm``: picks the subcommand and hands the rest of argv to its Hydra app.

``ntm train ...`` and ``ntm eval ...`` are full Hydra applications (overrides,
``-m``, ``--cfg job``, ``--help``, shell completion). A mistake in the user's
input ends with one line on stderr that says what is wrong and how to fix it,
and exit code 2; a bug in ntm itself still shows its traceback.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ntm_cli import checkpoint
from ntm_cli.checkpoint import CheckpointError
from ntm_cli.config import ConfigError, EvalCommandConfig, register_configs, typed_train_config

USAGE = """usage: ntm {train,eval} [KEY=VALUE ...] [-m] [--cfg job] [--help]

  ntm train [overrides]            train a model (defaults: task=copy model=ntm controller=lstm)
  ntm eval checkpoint=PATH         evaluate a checkpoint on fresh sequences
  ntm train --help                 every config group and key with its default
"""


def config_dir() -> Path:
    """The ``conf/`` folder: inside the package in a wheel, beside it in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"ntm's configs are missing: no conf/train.yaml in {here} or {here.parent}")


class UserError(SystemExit):
    """A mistake in the user's input, already folded into one line.

    A SystemExit, so that Hydra hands it straight back to ``main`` instead of
    printing its own report.
    """


def _typed_eval_config(plain: dict) -> DictConfig:
    return OmegaConf.merge(OmegaConf.structured(EvalCommandConfig), plain)


def _run_job(
    run: Callable[[DictConfig, Path], object],
    typed: Callable[[dict], DictConfig],
    cfg: DictConfig,
    failures: list[str],
) -> None:
    """Types the composed config (refusing keys the schema lacks, such as ``+foo=1``), then runs.

    A job refused for bad input (or a diverged run) ends a single run with one
    line; in a sweep it is recorded in ``failures`` and the other jobs go on.
    """
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain.pop("hydra", None)
    try:
        try:
            typed_cfg = typed(plain)
        except OmegaConfBaseException as ex:
            raise ConfigError(one_line(ex)) from None
        run(typed_cfg, run_dir)
    except (ConfigError, CheckpointError) as ex:
        if hydra_cfg.mode == RunMode.RUN:
            _remove_if_untouched(run_dir, f"{hydra_cfg.job.name}.log")
            raise UserError(str(ex)) from None
        logging.getLogger(__name__).error("job %d failed: %s", hydra_cfg.job.num, ex)
        failures.append(f"job {hydra_cfg.job.num} ({hydra_cfg.job.override_dirname or 'no overrides'}): {ex}")


def _remove_if_untouched(run_dir: Path, log_name: str) -> None:
    """Removes a run directory that holds only what Hydra wrote before the job refused its input."""
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".hydra", log_name}:
        shutil.rmtree(run_dir, ignore_errors=True)


def _train_job(cfg: DictConfig, failures: list[str]) -> None:
    from ntm_cli.train import train

    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    progress = sys.stderr.isatty() and not multirun
    _run_job(lambda c, d: train(c, d, progress=progress), typed_train_config, cfg, failures)


def _eval_job(cfg: DictConfig, failures: list[str]) -> None:
    from ntm_cli.evaluate import evaluate

    _run_job(evaluate, _typed_eval_config, cfg, failures)


JOBS: dict[str, Callable[[DictConfig, list[str]], None]] = {"train": _train_job, "eval": _eval_job}


def one_line(ex: BaseException) -> str:
    """Folds an error from Hydra, OmegaConf or ntm into one line that says what to do."""
    text = str(ex)
    cause = ex.__cause__
    missing_option = re.search(r"Could not find '([^/']+)/([^']+)'", text)
    if missing_option:
        group, option = missing_option.groups()
        options = re.findall(r"^\t(\S+)$", text, flags=re.M)
        choices = ", ".join(o for o in options if not o.startswith("schema")) or "(none)"
        return f"unknown {group} '{option}'; choose {group}=OPTION with OPTION one of: {choices}"
    both = f"{text}\n{cause or ''}"
    if "not in struct" in both or re.search(r"Key '[^']+' not in '", both):
        unknown = re.search(r"Could not (?:override|append to) '([^']+)'|full_key: (\S+)", both)
        name = next(g for g in unknown.groups() if g) if unknown else "that key"
        return (
            f"unknown key '{name}'; see the keys with `ntm {{train,eval}} --help`, "
            "and fix its spelling (ntm configs take no new keys, so +KEY=VALUE is refused too)"
        )
    if isinstance(cause, OmegaConfBaseException) or isinstance(ex, OmegaConfBaseException):
        inner = cause if isinstance(cause, OmegaConfBaseException) else ex
        msg = str(inner).strip().splitlines()
        first = msg[0] if msg else type(inner).__name__
        key = re.search(r"full_key: (\S+)", str(inner))
        where = f" (key {key.group(1)})" if key else ""
        return f"{first}{where}; give a value of the type shown by `ntm {{train,eval}} --help`"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines) if lines else type(ex).__name__


def _completion(argv: list[str]) -> list[str] | None:
    """Rewrites a shell-completion query for ``ntm SUB ...`` into one for SUB's Hydra app.

    Returns the argv to hand on, or None when the query was answered here.
    """
    line = os.environ.get("COMP_LINE", "")
    words = line.split()
    if len(words) < 2 or words[1] not in JOBS or (len(words) == 2 and not line.endswith(" ")):
        prefix = words[1] if len(words) == 2 else ""
        print(" ".join(name for name in JOBS if name.startswith(prefix)))
        return None
    sub = words[1]
    start = line.index(sub)
    os.environ["COMP_LINE"] = line[:start] + line[start + len(sub) :].lstrip()
    removed = len(line) - len(os.environ["COMP_LINE"])
    point = int(os.environ.get("COMP_POINT", len(line)))
    os.environ["COMP_POINT"] = str(max(0, point - removed))
    return [sub, *argv]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ntm`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-sc", "--shell-completion") and any(a.startswith("query=") for a in argv[1:]):
        argv = _completion(argv)
        if argv is None:
            return 0
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0 if argv else 2
    sub, rest = argv[0], argv[1:]
    if sub not in JOBS:
        print(f"ntm: error: unknown command '{sub}'; use `ntm train` or `ntm eval`", file=sys.stderr)
        return 2

    if sub == "train" and any(a.startswith("resume=") for a in rest):
        rest = _resume_args(rest)
        if rest is None:
            return 2

    # Let every exception reach us, so that a user's mistake prints one line.
    show_traceback = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"
    register_configs()
    failures: list[str] = []  # the sweep jobs that failed, filled by the jobs

    def job(cfg: DictConfig) -> None:
        JOBS[sub](cfg, failures)

    app = hydra.main(version_base=None, config_path=str(config_dir()), config_name=sub)(job)
    saved_argv = sys.argv
    sys.argv = [saved_argv[0], *rest]
    try:
        app()
    except UserError as ex:
        print(f"ntm {sub}: error: {ex.code}", file=sys.stderr)
        return 2
    except (ConfigError, CheckpointError, HydraException, OmegaConfBaseException) as ex:
        if show_traceback:
            raise
        print(f"ntm {sub}: error: {one_line(ex)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise
    except OSError as ex:  # an output folder that cannot be made or written, a full disk
        if show_traceback:
            raise
        where = f"{ex.filename}: " if ex.filename else ""
        print(
            f"ntm {sub}: error: {where}{ex.strerror or ex}; give an output folder that can be written "
            "and has space (hydra.run.dir=PATH, or hydra.sweep.dir=PATH with -m)",
            file=sys.stderr,
        )
        return 2
    finally:
        sys.argv = saved_argv
    if failures:
        print(f"ntm {sub}: {len(failures)} sweep job(s) failed; the others ran:", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def _resume_args(args: list[str]) -> list[str] | None:
    """``ntm train resume=PATH ...`` runs in PATH's own run directory, keeping its .hydra/ record.

    Returns the arguments to hand to Hydra, or None after printing why it cannot resume.
    """
    from ntm_cli.factory import check_resumable
    from ntm_cli.train import resume_checkpoint, resume_run_dir

    path = next(a for a in args if a.startswith("resume="))[len("resume=") :]
    problem = None
    if any(a in ("-m", "--multirun") for a in args):
        problem = "resume continues one run; it does not take -m"
    elif any(a.startswith(("hydra.run.dir=", "hydra.output_subdir=")) for a in args):
        problem = "resume continues in the run's own directory; drop hydra.run.dir"
    elif not resume_checkpoint(path).is_file():
        problem = (
            f"resume={path}: there is no checkpoint {resume_checkpoint(path)}; "
            "give a run directory (holding checkpoints/last.pt) or a checkpoint file"
        )
    else:
        try:  # before Hydra opens a log in that directory
            check_resumable(checkpoint.load(resume_checkpoint(path)), resume_checkpoint(path))
        except CheckpointError as ex:
            problem = str(ex)
    if problem:
        print(f"ntm train: error: {problem}", file=sys.stderr)
        return None
    return [*args, f"hydra.run.dir={resume_run_dir(path)}", "hydra.output_subdir=null"]


def console() -> None:
    """The console script: exits with ``main``'s status."""
    try:
        code = main()
    except BrokenPipeError:
        # The reader went away (`ntm train --help | head`): stop quietly, as other tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141
    except KeyboardInterrupt:
        # A second Ctrl-C during training (the first one asks for a checkpoint first).
        print("ntm: interrupted", file=sys.stderr)
        code = 130
    except SystemExit as ex:  # a training run stopped by a signal, after its checkpoint
        code = ex.code
    # Already leaving: a late Ctrl-C must not break the interpreter's shutdown with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(code)

"""``ntm``: picks the command, runs it, and turns what comes back into an exit status.

``ntm train ...`` and ``ntm eval ...`` are Hydra applications (overrides,
``-m``, ``--cfg job``, shell completion) whose jobs call the plain functions
``train`` and ``evaluate``. ``ntm train resume=RUN`` is resolved before
Hydra starts (``ntm_cli.resume``) and trains without it; ``ntm summarize``
and ``ntm report`` only read run directories (``ntm_cli.summary``, ``ntm_cli.report``); ``ntm export``
writes a model to share (``ntm_cli.export``). Exit status: 0 done;
2 a mistake in the user's input, as one line on stderr; 1 a sweep with failed
jobs; 130, 143 and 140 a run stopped by SIGINT, SIGTERM and (under submitit) SIGUSR2 after its checkpoint. A
bug in ntm itself keeps its traceback.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ntm_cli import composition, export, report, rundir, summary, usage
from ntm_cli.errors import ConfigError, NtmError
from ntm_cli.signals import EXIT_CODES
from ntm_cli.sweep import SweepFailed, record_failure

log = logging.getLogger(__name__)

# Commands that take files and folders (their own options, no Hydra): name -> the function of its arguments.
_FILE_COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "summarize": summary.command,
    "report": report.command,
    "export": export.command,
}
COMMANDS = ("train", "eval", *_FILE_COMMANDS)


class _Exit(SystemExit):
    """Leaves a Hydra job with an exit status (a run stopped by a signal); Hydra lets it through."""


class _Refused(SystemExit):
    """Carries a single run's NtmError out of Hydra, which lets a SystemExit through without a report."""

    def __init__(self, error: NtmError) -> None:
        super().__init__(2)
        self.error = error


# -- the Hydra jobs --------------------------------------------------------------------------------------------------


def preset_problems(choices: dict[str, str | None]) -> list[str]:
    """A preset made for another task or model than the one chosen (``experiment=graves2014/copy task=ngram``)."""
    name = choices.get("experiment")
    path = composition.config_dir() / "experiment" / f"{name}.yaml"
    if not name or not path.is_file():
        return []
    made_for = {}
    for entry in OmegaConf.load(path).get("defaults", []):
        for key, value in entry.items() if isinstance(entry, DictConfig) else []:
            group = re.fullmatch(r"override /(task|model|controller)", str(key))
            if group:
                made_for[group.group(1)] = value
    return [
        f"experiment={name} is made for {group}={value}, not {group}={choices.get(group)}; "
        f"drop {group}={choices.get(group)} or choose another preset"
        for group, value in made_for.items()
        if choices.get(group) != value
    ]


def _write_record(run_dir: Path, cfg: DictConfig, hydra_cfg: DictConfig) -> None:
    """The run's .hydra/ record (Hydra's own files), written once the run may go on."""
    record = run_dir / ".hydra"
    record.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, record / "config.yaml")
    OmegaConf.save(OmegaConf.create({"hydra": hydra_cfg}), record / "hydra.yaml")
    OmegaConf.save(hydra_cfg.overrides.task, record / "overrides.yaml")


def _job(run: Callable[[DictConfig, Path, bool], float | None]) -> Callable[[DictConfig], float | None]:
    """A Hydra task function around ``run`` (config, run directory, in a sweep?).

    In a single run, bad input raises (one line, exit 2) and leaves no run
    directory behind. In a sweep, the job records why it failed in its own
    folder and returns no objective, so the other jobs go on, whatever the launcher.
    """

    def job(cfg: DictConfig) -> float | None:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hydra_cfg = HydraConfig.get()
        run_dir = Path(hydra_cfg.runtime.output_dir)
        sweep = hydra_cfg.mode == RunMode.MULTIRUN
        try:
            return run(cfg, run_dir, sweep)
        except NtmError as ex:
            if not sweep:
                rundir.remove_if_untouched(run_dir)
                raise _Refused(ex) from None
            log.error("job %d failed: %s", hydra_cfg.job.num, ex)
            job_id = {"num": hydra_cfg.job.num, "overrides": hydra_cfg.job.override_dirname}
            record_failure(run_dir, job_id, str(ex))
            return None  # no objective: Optuna records the trial as failed and the search goes on

    return job


def _train(cfg: DictConfig, run_dir: Path, sweep: bool) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    from ntm_cli.training import prepare

    hydra_cfg = HydraConfig.get()
    problems = preset_problems(dict(hydra_cfg.runtime.choices))
    if problems:
        raise ConfigError("; ".join(problems))
    run = prepare(cfg, run_dir, jobs=_jobs_at_once(hydra_cfg) if sweep else 1)
    _write_record(run_dir, cfg, hydra_cfg)
    result = run.run(show_progress=sys.stderr.isatty() and not sweep)
    if result.status == "stopped":
        raise _Exit(EXIT_CODES[result.stop_signal])
    return result.objective


def _jobs_at_once(hydra_cfg: DictConfig) -> int:
    """How many jobs of a sweep train at once on this machine: the joblib launcher's n_jobs (negative counts
    back from the cores, as joblib does), else 1."""
    from ntm_cli.device import cores

    n = OmegaConf.select(hydra_cfg, "launcher.n_jobs")
    if n is None:
        return 1
    return max(1, cores() + 1 + int(n) if int(n) < 0 else int(n))


def _eval(cfg: DictConfig, run_dir: Path, sweep: bool) -> float | None:
    from ntm_cli.evaluation import evaluate

    result = evaluate(cfg, run_dir)
    if result.status == "stopped":
        raise _Exit(EXIT_CODES[result.stop_signal])
    return None


# -- the commands ----------------------------------------------------------------------------------------------------


def _run_hydra(command: str, args: list[str], job: Callable[[DictConfig], object]) -> int:
    """Runs ``job`` as the Hydra application of ``conf/COMMAND.yaml`` on ``args``."""
    from hydra._internal.utils import _run_hydra as run_hydra
    from hydra._internal.utils import get_args_parser
    from hydra.core.global_hydra import GlobalHydra

    parser = get_args_parser()
    parsed = parser.parse_args(args)
    parsed.overrides = composition.normalize_overrides(parsed.overrides)
    composition.register_configs(parsed.overrides)
    full_error = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # every exception reaches ``main``, which words it
    try:
        run_hydra(
            args=parsed,
            args_parser=parser,
            task_function=job,
            config_path=str(composition.config_dir()),
            config_name=command,
        )
    except _Refused as ex:
        raise ex.error from None
    except SweepFailed:
        raise
    except SystemExit as ex:  # Hydra's own --hydra-help and --info exit; a stopped run leaves with its status
        return ex.code if isinstance(ex.code, int) else 0
    finally:
        GlobalHydra.instance().clear()
        if full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = full_error
    return 0


def _resume(args: list[str]) -> int:
    """``ntm train resume=PATH [overrides]``: resolved here, trained without Hydra in the run's own directory."""
    from ntm_cli import resume
    from ntm_cli.training import train

    path = next(a for a in args if a.startswith("resume="))[len("resume=") :]
    rest = [a for a in args if not a.startswith("resume=")]
    if any(a in ("-m", "--multirun") for a in rest):
        raise ConfigError("resume continues one run; it does not take -m")
    if any(a.startswith("hydra.") for a in rest):
        raise ConfigError("resume continues in the run's own directory; drop the hydra.* overrides")
    flags = [a for a in rest if a.startswith("-")]
    if flags:
        raise ConfigError(f"resume takes overrides only, not {flags[0]}")
    found = resume.resolve(path, composition.normalize_overrides(rest))
    with rundir.console_logging():
        result = train(found.config, found.run_dir, progress=sys.stderr.isatty(), checkpoint_state=found.checkpoint)
    return EXIT_CODES[result.stop_signal] if result.status == "stopped" else 0


def _command(command: str, args: list[str]) -> int:
    if command in _FILE_COMMANDS:
        return _FILE_COMMANDS[command](args)
    if command == "train" and any(a.startswith("resume=") for a in args):
        return _resume(args)
    if "--help" in args or "-h" in args:
        print(usage.command_help(command, [a for a in args if not a.startswith("-")]), end="")
        return 0
    informative = {"--cfg", "-c", "--hydra-help", "--info", "-i", "-sc", "--shell-completion"}
    if command == "eval" and not informative & set(args) and not any(a.startswith("checkpoint=") for a in args):
        raise ConfigError("checkpoint is required: ntm eval checkpoint=PATH (a run directory or a checkpoint file)")
    return _run_hydra(command, args, _job(_train if command == "train" else _eval))


def _completion(argv: list[str]) -> int:
    """``ntm -sc install=bash`` and the queries it makes: ``ntm SUB ...`` lines go to SUB's Hydra app."""
    if not any(a.startswith("query=") for a in argv[1:]):
        return _run_hydra("train", argv, lambda cfg: None)
    line = os.environ.get("COMP_LINE", "")
    words = line.split()
    if len(words) < 2 or words[1] not in COMMANDS or (len(words) == 2 and not line.endswith(" ")):
        prefix = words[1] if len(words) == 2 else ""
        print(" ".join(name for name in COMMANDS if name.startswith(prefix)))
        return 0
    sub = words[1]
    if sub in _FILE_COMMANDS:
        return 0  # it takes folders: no words from here, so the shell completes file names
    start = line.index(sub)
    os.environ["COMP_LINE"] = line[:start] + line[start + len(sub) :].lstrip()
    removed = len(line) - len(os.environ["COMP_LINE"])
    point = int(os.environ.get("COMP_POINT", len(line)))
    os.environ["COMP_POINT"] = str(max(0, point - removed))
    return _run_hydra(sub, argv, lambda cfg: None)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ntm`` console script; returns the exit status."""
    from hydra.errors import HydraException

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--version"]:
        print(usage.version_line())
        return 0
    if argv[:1] in (["-sc"], ["--shell-completion"]):
        return _completion(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage.USAGE, end="")
        return 0 if argv else 2
    command, args = argv[0], argv[1:]
    if command not in COMMANDS:
        print(
            f"ntm: error: unknown command '{command}'; use one of {', '.join(f'`ntm {c}`' for c in COMMANDS)} "
            "(ntm --help)",
            file=sys.stderr,
        )
        return 2
    show_traceback = os.environ.get("HYDRA_FULL_ERROR") == "1"
    try:
        return _command(command, args)
    except NtmError as ex:
        print(f"ntm {command}: error: {ex}", file=sys.stderr)
        return 2
    except SweepFailed as ex:
        print(f"ntm {command}: {ex}; the others ran:", file=sys.stderr)
        for line in ex.lines:
            print(f"  {line}", file=sys.stderr)
        return 1
    except (HydraException, OmegaConfBaseException) as ex:
        if show_traceback:
            raise
        print(f"ntm {command}: error: {composition.one_line(ex, command)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise
    except OSError as ex:  # an output folder that cannot be made or written, a full disk
        if show_traceback:
            raise
        where = f"{ex.filename}: " if ex.filename else ""
        print(
            f"ntm {command}: error: {where}{ex.strerror or ex}; give an output folder that can be written "
            "and has space (hydra.run.dir=PATH, or hydra.sweep.dir=PATH with -m)",
            file=sys.stderr,
        )
        return 2


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
    # Already leaving: a late Ctrl-C must not break the interpreter's shutdown with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(code)

"""``ntm --help`` and ``ntm COMMAND --help``: the commands, each config group's options, and every key described."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from omegaconf import OmegaConf

from ntm_cli import composition, config

USAGE = """usage: ntm {train,eval,summarize,report,export} [KEY=VALUE ...] [-m] [--cfg job] [--help]

  ntm train [overrides]            train a model (defaults: task=copy model=ntm controller=lstm)
  ntm train resume=RUN_DIR         continue a run where it stopped
  ntm train -m seed=0,1,2          a sweep: one run per value
  ntm eval checkpoint=RUN_DIR      evaluate a run's best checkpoint on fresh sequences
  ntm summarize SWEEP_DIR          a sweep's runs and settings over seeds as tables (ntm summarize --help)
  ntm report SWEEP_DIR             those tables with learning curves and generalisation as report.md (--help)
  ntm export RUN_DIR OUT.pt        a run's model (weights and config, no training state) as a file to share
  ntm train --help                 every config group and key, with its default and what it does
  ntm --version                    the versions of ntm, torch and Hydra
  eval "$(ntm -sc install=bash)"   shell completion for bash
"""

# The groups a user chooses from; the others (schema, tuned, hydra) are ntm's or Hydra's own.
GROUPS = {"train": ("task", "model", "controller", "optimizer", "device", "experiment"), "eval": ("device",)}

_TITLES = {
    "train": "ntm train: train a memory-augmented network on an algorithmic task.",
    "eval": "ntm eval: evaluate a checkpoint written by ntm train on fresh sequences.",
}
_FORMS = {
    "train": (
        "ntm train [GROUP=OPTION ...] [KEY=VALUE ...] [-m] [--cfg job] [--help]\n"
        "       ntm train resume=RUN_DIR [train.steps=N ...]   (only train.steps, max_seconds, eval_every,\n"
        "       log_every, checkpoint_every, keep_checkpoints, target_bit_errors, compile, compile_steps,\n"
        "       device.*, eval.* and objective may change on a resume)"
    ),
    "eval": "ntm eval checkpoint=PATH [eval.lengths=[10,20]] [eval.num_sequences=N] [device=cpu] [seed=N]",
}
_WRITES = {
    "train": (
        "A run writes .hydra/, train.log, checkpoints/ (last.pt, best.pt, step_NNNNNNN.pt), tb/ (TensorBoard)\n"
        "and metrics.json to its run directory: outputs/train/DATE/TIME, or hydra.run.dir=PATH."
    ),
    "eval": (
        "Writes eval.json (each row as soon as it is measured), eval.txt and eval.log to RUN/eval/DATE_TIME\n"
        "beside the checkpoint's run (outputs/eval/... for a lone file), or hydra.run.dir=PATH."
    ),
}


def version_line() -> str:
    """``ntm X (torch Y, hydra-core Z)``."""

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return f"ntm {of('ntm')} (torch {of('torch')}, hydra-core {of('hydra-core')})"


def _options(group: str) -> list[str]:
    from hydra.core.global_hydra import GlobalHydra

    return sorted(GlobalHydra.instance().config_loader().get_group_options(group))


def command_help(command: str, overrides: Sequence[str]) -> str:
    """The help of ``ntm COMMAND``, with the values the given overrides lead to."""
    from hydra import compose, initialize_config_dir

    overrides = composition.normalize_overrides(overrides)
    composition.register_configs(overrides)
    with initialize_config_dir(str(composition.config_dir()), version_base=None, job_name=command):
        composed = compose(command, overrides=list(overrides), return_hydra_config=True)
        choices = dict(composed.hydra.runtime.choices)
        groups = [(g, _options(g)) for g in GROUPS[command]]
    lines = [
        _TITLES[command],
        "",
        f"Usage: {_FORMS[command]}",
        "",
        "Config groups (GROUP=OPTION; * marks the one used):",
    ]
    for group, options in groups:
        marked = [f"{o}*" if o == choices.get(group) else o for o in options]
        lines.append(f"  {group:<11} {', '.join(marked)}")
    if command == "train":
        typed = config.typed_train(composed)
        changed = config.changed_settings(typed)
        lines += ["", "Settings beyond the defaults (from the task's config, a preset or the command line):"]
        lines.append("  " + (", ".join(changed) if changed else "none"))
    else:
        if OmegaConf.is_missing(composed, "checkpoint"):
            composed.checkpoint = "PATH"
        typed = config.typed_eval(composed)
    lines += ["", "Keys (KEY=VALUE) with the values this command would use:"]
    keys = config.keys(typed)
    width = min(42, max(len(f"{k}={config.format_value(v)}") for k, v, _ in keys))
    for key, value, text in keys:
        lines.append(f"  {f'{key}={config.format_value(value)}':<{width}}  {text}")
    lines += ["", _WRITES[command], "Hydra's own options: ntm " + command + " --hydra-help"]
    return "\n".join(lines) + "\n"

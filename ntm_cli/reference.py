"""The reference part of docs/configuration.md, written from the schemas and configs themselves.

``make docs`` (``python -m ntm_cli.reference docs/configuration.md``) rewrites
the part between the two marker lines; a test checks that it is current.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ntm_cli import composition, config
from ntm_cli.models import MODELS, model_spec
from ntm_cli.optim import OPTIMIZERS
from ntm_cli.tasks import TASKS, build_task

BEGIN = "<!-- reference: written by `make docs` from the schemas and configs; do not edit by hand -->"
END = "<!-- end of reference -->"


def _rows(items: list[tuple[str, object, str]]) -> list[str]:
    return [f"| `{key}` | `{config.format_value(value)}` | {text} |" for key, value, text in items]


def _leaves(cfg: object, prefix: str) -> list[tuple[str, object, str]]:
    return [(k, v, t) for k, v, t in config.keys(cfg, prefix) if k.split(".")[-1] not in ("name", "_target_")]


def _keys_of(cfg: object) -> list[tuple[str, object]]:
    return [(k, v) for k, v, _ in _leaves(cfg, "optimizer.")]


def _typed(*overrides: str) -> config.TrainConfig:
    return config.typed_train(composition.compose("train", list(overrides)))


def reference() -> str:
    """The reference section: every key of every group option, what each task and preset changes."""
    base = _typed()
    groups = ("task.", "model.", "controller.", "optimizer.")
    lines = ["## Groups (`GROUP=OPTION`)", "", "| group | options | default |", "|---|---|---|"]
    lines += [
        f"| `task` | {', '.join(f'`{n}`' for n in TASKS)}, `custom` | `copy` |",
        f"| `model` | {', '.join(f'`{n}`' for n in MODELS)}, `custom` | `ntm` |",
        "| `controller` | `lstm`, `feedforward` | `lstm` |",
        f"| `optimizer` | {', '.join(f'`{n}`' for n in OPTIMIZERS)} | `adam` |",
        "| `device` | `auto`, `cpu`, `cuda` | `auto` |",
        "| `experiment` | the presets below | none |",
        "",
    ]
    lines += ["## Keys of `ntm train`", "", "| key | default | what it does |", "|---|---|---|"]
    lines += _rows([row for row in _leaves(base, "") if not row[0].startswith(groups)])
    lines += ["", "## Tasks (`task=NAME`)", ""]
    for name in TASKS:
        cfg = _typed(f"task={name}")
        demand = build_task(cfg.task).memory_demand
        lines += [f"### `task={name}`", "", "| key | default | what it does |", "|---|---|---|"]
        lines += _rows(_leaves(cfg.task, "task."))
        changed = [c for c in config.changed_settings(cfg) if not c.startswith("task.")]
        changes = ", ".join(f"`{c}`" for c in changed) if changed else "nothing"
        lines += ["", f"With the default model, its config (and tuned/, where there is one) changes: {changes}."]
        if demand is not None:
            lines.append(f"An episode holds up to {demand.vectors} vectors of {demand.size} values at once.")
        lines.append("")
    lines += ["## Models (`model=NAME`)", ""]
    for name in MODELS:
        cfg = _typed(f"model={name}")
        spec = model_spec(name)
        parameters, _ = spec.sizes(cfg.model, cfg.controller, 9, 8)
        uses = "with the controller below" if spec.controller else "no controller"
        lines += [f"### `model={name}` ({uses}; {parameters:,} parameters on copy)", ""]
        lines += ["| key | default | what it does |", "|---|---|---|", *_rows(_leaves(cfg.model, "model.")), ""]
    lines += ["## Controllers, optimizers, devices", "", "| key | default | what it does |", "|---|---|---|"]
    lines += _rows(_leaves(base.controller, "controller."))
    lines += _rows(_leaves(base.optimizer, "optimizer."))
    lines += ["", "| option | its own defaults, where they differ from the table's |", "|---|---|"]
    for name, (defaults, _) in OPTIMIZERS.items():
        own = [(k, v) for k, v, _ in _leaves(defaults, "optimizer.") if v != dict(_keys_of(base.optimizer))[k]]
        lines.append(f"| `optimizer={name}` | {', '.join(f'`{k}={config.format_value(v)}`' for k, v in own) or '-'} |")
    lines += ["", "## Presets (`experiment=NAME`)", ""]
    lines += ["| preset | task, model | what it sets beyond the defaults | parameters |", "|---|---|---|---|"]
    conf = composition.config_dir()
    for path in sorted((conf / "experiment").rglob("*.yaml")):
        name = path.relative_to(conf / "experiment").with_suffix("").as_posix()
        cfg = _typed(f"experiment={name}")
        spec = model_spec(cfg.model.name)
        task = build_task(cfg.task)
        parameters, _ = spec.sizes(cfg.model, cfg.controller, task.input_size, task.output_size)
        settings = ", ".join(f"`{c}`" for c in config.changed_settings(cfg))
        choices = [f"task={cfg.task.name}", f"model={cfg.model.name}"]
        choices += [f"controller={cfg.controller.name}"] if spec.controller else []
        choices += [f"optimizer={cfg.optimizer.name}"]
        lines.append(f"| `{name}` | {', '.join(choices)} | {settings} | {parameters:,} |")
    lines += ["", "## Keys of `ntm eval`", "", "| key | default | what it does |", "|---|---|---|"]
    lines += _rows(_leaves(config.EvalConfig(checkpoint="PATH"), ""))
    return "\n".join(lines) + "\n"


def rewrite(path: Path) -> bool:
    """Writes the reference section into ``path`` between its markers; True if the file changed."""
    text = path.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    new = f"{head}{BEGIN}\n\n{reference()}\n{END}{tail}"
    if new != text:
        path.write_text(new)
    return new != text


if __name__ == "__main__":
    rewrite(Path(sys.argv[1]))

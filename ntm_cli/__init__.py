"""ntm: an experiment runner for Neural Turing Machines and related models.

In a notebook or a script, a run is a plain function call::

    from ntm_cli import compose, evaluate, train

    result = train(compose("train", ["experiment=debug", "task=copy"]), run_dir="runs/try")
    result.status, result.metrics["validation"]     # "done", what metrics.json holds
    evaluate(compose("eval", ["checkpoint=runs/try", "eval.num_sequences=100"])).result["rows"]
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"

# Imported on first use: `import ntm_cli` stays cheap, and nothing runs at import.
_EXPORTS = {
    "compose": "ntm_cli.composition",
    "train": "ntm_cli.training",
    "prepare": "ntm_cli.training",
    "evaluate": "ntm_cli.evaluation",
    "RunResult": "ntm_cli.training",
    "EvalResult": "ntm_cli.evaluation",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ntm_cli' has no attribute {name!r}")


__all__ = [*_EXPORTS, "__version__"]

"""Sweeps (``ntm train -m ...``): how a job's failure is recorded, and the report at the sweep's end.

At its end a sweep prints its summary and writes it into its folder
(``ntm_cli.summary``). A job refused for bad input does not stop the others, whatever the launcher:
it writes ``metrics.json`` with ``"status": "failed"`` and its one-line reason
into its own folder and returns no objective. ``SweepReport``, a Hydra
callback, reads those records when the sweep ends.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ntm_cli import rundir
from ntm_cli.errors import NtmError

log = logging.getLogger(__name__)


class SweepFailed(SystemExit):
    """Some jobs of a sweep failed; ``lines`` says which and why. The CLI exits with 1.

    A SystemExit, because Hydra turns any Exception a callback raises into a warning.
    """

    def __init__(self, lines: list[str]) -> None:
        super().__init__(1)
        self.lines = lines

    def __str__(self) -> str:
        return f"{len(self.lines)} sweep job(s) failed"


def record_failure(job_dir: Path, job: dict[str, Any], error: str) -> None:
    """Writes a failed job's record, unless its folder holds a run (which must not be touched)."""
    if rundir.holds_run(job_dir):
        return
    rundir.write_json(job_dir / "metrics.json", {"status": "failed", "error": error, "job": job})


def failures(sweep_dir: Path) -> list[str]:
    """``job N (OVERRIDES): REASON`` for each failed job under ``sweep_dir``, in job order."""
    found = []
    for path in sweep_dir.rglob("metrics.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("status") == "failed":
            job = record.get("job", {})
            found.append(
                (
                    job.get("num", -1),
                    f"job {job.get('num')} ({job.get('overrides') or 'no overrides'}): {record['error']}",
                )
            )
    return [line for _, line in sorted(found)]


class SweepReport(Callback):
    """At the end of a sweep, prints its summary (``ntm summarize``, also written into the sweep's folder) and
    names the jobs that failed (and makes ``ntm`` exit with 1)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from ntm_cli import summary

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            text, written = summary.of_sweep(sweep_dir)
        except NtmError:  # no job got as far as its folder
            text, written = "", []
        print(f"\n{text}", end="", flush=True)
        if written:
            print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr, flush=True)
        failed = failures(sweep_dir)
        if failed:
            raise SweepFailed(failed)

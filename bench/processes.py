"""Benchmarks of whole ``ntm train`` processes, as a user runs them: the defaults, start-up included.

- end-to-end throughput: a run of K steps minus a run of 1 step (start-up, set-up and the first
  compile cancel out), at batch 1, 16 and 128; with ``--baseline DIR`` the best existing PyTorch
  implementation (a checkout of loudinthecloud/pytorch-ntm) alternates with ours in the same run;
- time to solve copy from the process's start, one seed after another;
- two runs started together against one alone.

Every run uses ``ntm train``'s defaults (no speed flags), after each batch size's time step has been
compiled once into ntm's compile cache, as ``make install`` does for the default batch.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NTM = str(Path(sys.executable).parent / "ntm")
# Steps of the long run of each batch size (ours, theirs): each takes some seconds on a 2-core machine.
END_TO_END_STEPS = {1: (400, 150), 16: (300, 40), 128: (60, 8)}


def wall(command: list[str], cwd: Path) -> float:
    """Seconds a whole process takes, from its start to its exit."""
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stderr[-2000:]}")
    return seconds


def ours(batch: int, steps: int, run_dir: Path, *extra: str) -> list[str]:
    """``ntm train task=copy`` at ``batch`` for ``steps`` steps; the target is off, so every run trains them all."""
    args = [f"train.batch_size={batch}", f"train.steps={steps}", "train.target_bit_errors=null"]
    return [NTM, "train", "task=copy", *args, *extra, f"hydra.run.dir={run_dir}"]


def theirs(baseline: Path, python: str, batch: int, steps: int, folder: Path) -> list[str]:
    """pytorch-ntm's copy training at ``batch`` for ``steps`` batches, with its defaults otherwise."""
    never = str(10**9)
    params = [f"-pbatch_size={batch}", f"-pnum_batches={steps}"]
    options = ["--checkpoint-interval", never, "--report-interval", never, "--checkpoint-path", str(folder)]
    return [python, str(baseline / "train.py"), "--task", "copy", *params, *options]


def warm_cache(batch: int, folder: Path) -> None:
    """Compiles the default run's time step at ``batch`` once, into ntm's compile cache."""
    wall(ours(batch, 1, folder / f"warm{batch}", "train.compile=true", "train.val_sequences=16"), folder)


def rate(batch: int, steps: int, seconds: float, one_step: float) -> float:
    """Sequences per second of the steps a long run makes beyond a one-step run."""
    return (steps - 1) * batch / (seconds - one_step)


def end_to_end(batches: tuple[int, ...], repeats: int, baseline: Path | None, python: str) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for batch in batches:
            warm_cache(batch, folder)
            long_ours, long_theirs = END_TO_END_STEPS[batch]
            mine, base = [], []
            for r in range(repeats):
                runs = {k: folder / f"b{batch}-{r}-{k}" for k in ("long", "one")}
                seconds = wall(ours(batch, long_ours, runs["long"]), folder)
                one = wall(ours(batch, 1, runs["one"]), folder)
                mine.append(rate(batch, long_ours, seconds, one))
                if baseline is not None:
                    seconds = wall(theirs(baseline, python, batch, long_theirs, folder), baseline)
                    one = wall(theirs(baseline, python, batch, 1, folder), baseline)
                    base.append(rate(batch, long_theirs, seconds, one))
            metrics = json.loads((folder / f"b{batch}-0-long" / "metrics.json").read_text())
            row = {"batch": batch, "ntm": summary(mine), "compile_seconds": metrics["compile_seconds"]}
            if base:
                row["baseline"] = summary(base)
                row["ratio"] = statistics.median(mine) / statistics.median(base)
            rows.append(row)
    return rows


def time_to_solve(seeds: tuple[int, ...]) -> dict:
    """``ntm train task=copy seed=S`` with its defaults, one at a time: seconds from process start to exit."""
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        warm_cache(16, folder)
        for seed in seeds:
            run_dir = folder / f"seed{seed}"
            seconds = wall([NTM, "train", "task=copy", f"seed={seed}", f"hydra.run.dir={run_dir}"], folder)
            m = json.loads((run_dir / "metrics.json").read_text())
            runs.append(
                {
                    "seed": seed,
                    "process_seconds": seconds,
                    "solved_at_step": m.get("solved_at_step"),
                    "solved_at_seconds": m.get("solved_at_seconds"),
                    "compile_seconds": m["compile_seconds"],
                }
            )
    solved = [r for r in runs if r["solved_at_step"] is not None]
    return {
        "seeds": runs,
        "solved": len(solved),
        "median_process_seconds": statistics.median(r["process_seconds"] for r in runs),
        "median_steps": statistics.median(r["solved_at_step"] for r in solved) if solved else None,
    }


def side_by_side(steps: int = 200) -> dict:
    """One ``ntm train task=copy`` of ``steps`` steps (no validation or checkpoint before the end) alone, then two
    started together: the seconds of each, with the default threads."""
    quiet = ["train.eval_every=100000", "train.checkpoint_every=100000"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        warm_cache(16, folder)
        alone = wall(ours(16, steps, folder / "alone", *quiet), folder)
        start = time.perf_counter()
        procs = [
            subprocess.Popen(ours(16, steps, folder / f"pair{i}", *quiet), cwd=folder, stdout=subprocess.DEVNULL)
            for i in range(2)
        ]
        ends: dict[int, float] = {}
        while len(ends) < len(procs):
            for i, proc in enumerate(procs):
                if i not in ends and proc.poll() is not None:
                    ends[i] = time.perf_counter() - start
            time.sleep(0.05)
        ends = [ends[i] for i in range(len(procs))]
    return {"steps": steps, "alone_seconds": alone, "together_seconds": ends, "slowdown": max(ends) / alone}


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "repeats": len(values)}

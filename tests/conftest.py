"""Shared helpers: runs in-process (``compose`` + ``train``), the CLI in-process (``cli.main``), and the real
``ntm`` command as a subprocess for what only a process shows (exit on signals, console scripts)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ntm_cli import cli, compose, evaluate, train

# On top of experiment=debug (tiny controller, a few steps): a copy task and memory small enough that a
# run takes a second.
SMALL = ["task.max_len=3", "model.memory_n=8", "model.memory_m=4"]


def ntm_executable() -> str:
    script = Path(sys.executable).parent / "ntm"
    if not script.exists():
        pytest.fail(f"the ntm console script is not installed beside {sys.executable}; run `make install`")
    return str(script)


def run_ntm(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs ``ntm ARGS`` as a user would, from ``cwd``; returns the finished process."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([ntm_executable(), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


def config(*overrides: str, small: bool = True):
    """The typed-to-be config ``ntm train experiment=debug [SMALL] OVERRIDES`` would run."""
    return compose("train", ["experiment=debug", *(SMALL if small else []), *overrides])


def run(tmp_path: Path, *overrides: str, name: str = "run", small: bool = True):
    """A tiny training run in ``tmp_path/name``, in-process; returns its RunResult."""
    return train(config(*overrides, small=small), tmp_path / name)


def evaluate_run(checkpoint: Path, *overrides: str, out: Path | None = None):
    return evaluate(compose("eval", [f"checkpoint={checkpoint}", "eval.num_sequences=4", *overrides]), out)


class CLI:
    """``ntm ARGS`` in this process: (exit status, stdout, stderr)."""

    def __init__(self, capsys, monkeypatch, cwd: Path) -> None:
        self.capsys, self.cwd = capsys, cwd
        monkeypatch.chdir(cwd)
        monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main_in_process(*args)
        out = self.capsys.readouterr()
        return code, out.out, out.err


def main_in_process(*args: str) -> int:
    """``cli.main(args)``, leaving the root logger and torch's threads as they were (also for module fixtures)."""
    threads = torch.get_num_threads()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return cli.main(list(args))
    finally:  # Hydra points the root logger at this call's captured stdout: leave it as it was
        root.handlers[:] = handlers
        root.setLevel(level)
        torch.set_num_threads(threads)


@pytest.fixture
def ntm(capsys, monkeypatch, tmp_path) -> CLI:
    return CLI(capsys, monkeypatch, tmp_path)


@pytest.fixture(autouse=True, scope="session")
def _compile_cache():
    """Compiled steps go to a cache of the tests' own (kept between local runs), never the user's ~/.cache/ntm."""
    folder = Path(__file__).resolve().parents[1] / ".pytest_cache" / "ntm-cache"
    saved = os.environ.get("NTM_CACHE_DIR")
    os.environ["NTM_CACHE_DIR"] = str(folder)
    yield
    if saved is None:
        os.environ.pop("NTM_CACHE_DIR", None)
    else:
        os.environ["NTM_CACHE_DIR"] = saved


@pytest.fixture(autouse=True)
def _one_thread():
    """Every test on one torch thread: tiny tensors run faster on one, and a run's device.threads (which sets the
    process's count) cannot leak into the next test."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One tiny training run, shared by the tests that only read its outputs."""
    root = tmp_path_factory.mktemp("trained")
    result = train(config(), root / "run")
    assert result.status == "done"
    return root / "run"


def every_option(conf: Path) -> list[list[str]]:
    """The overrides that choose each task, tuned and experiment file under ``conf``, one list per file."""
    from ntm_cli.tasks import TASKS

    out = []
    for path in sorted(conf.rglob("*.yaml")):
        group = path.parent.relative_to(conf).as_posix()
        if group == "task":
            out.append([f"task={path.stem}"])
        elif group == "tuned":
            task = next(t for t in TASKS if path.stem.startswith(t + "_"))
            out.append([f"task={task}", f"model={path.stem[len(task) + 1 :]}"])
        elif group.split("/")[0] == "experiment":
            out.append([f"experiment={path.relative_to(conf / 'experiment').with_suffix('').as_posix()}"])
    return out


def assert_same(a, b, where: str = "") -> None:
    """Tensors equal bit for bit, recursively through dicts and lists."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def tb_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every TensorBoard scalar of a run, as {tag: [(step, value), ...]}."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}

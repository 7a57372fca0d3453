"""The hardware target (``device=auto|cpu|cuda``), its threads, and whether a run fits its memory."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from ntm_cli.checks import choice, positive
from ntm_cli.errors import ConfigError, ResourceError

DEVICES = ("auto", "cpu", "cuda")
_GIB = 2**30


@dataclass
class DeviceConfig:
    """Where the run computes.

    Attributes:
        name: auto (CUDA when present, else the CPU), cpu or cuda
        threads: torch's CPU threads; null: ntm chooses (one for batches under 64, where more threads only wait
            on each other; up to 4 for larger ones), or OMP_NUM_THREADS when that is set
    """

    name: str = "auto"
    threads: int | None = None

    def problems(self) -> list[str]:
        return choice("device", self.name, DEVICES) + positive(self, "device", ("threads",))


# From this batch size on, a second thread shortens a CPU training step (docs/speed.md); below it, the
# threads of a step's many small operations spend more time waiting on each other than computing.
_THREADED_BATCH = 64
_MOST_THREADS = 4


def cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _cpu_times() -> tuple[int, int]:
    """(idle, total) CPU time of the machine so far, in clock ticks (Linux's /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)


def idle_cores(window: float = 0.1) -> float:
    """Cores left idle by other processes, measured over ``window`` seconds (all of them where unknown)."""
    try:
        idle0, total0 = _cpu_times()
        time.sleep(window)
        idle1, total1 = _cpu_times()
    except (OSError, IndexError, ValueError):
        return float(cores())
    return cores() * (idle1 - idle0) / max(1, total1 - total0)


def threads_for(cfg: DeviceConfig, batch_size: int, share: int | None = None) -> int | None:
    """The CPU threads for steps of ``batch_size`` sequences: ``device.threads``, else OMP_NUM_THREADS's (None:
    torch already follows it), else one, or the idle cores (up to 4, and up to ``share``) for a large batch.

    ``share``: the cores this run may use when other jobs of a parallel sweep run beside it. A thread per
    idle core only: two threads of a step that share a core with other work wait on each other at every
    operation, and the step slows many times over instead of by half.
    """
    if cfg.threads is not None:
        return cfg.threads
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    if batch_size < _THREADED_BATCH:
        return 1
    return max(1, min(_MOST_THREADS, share or _MOST_THREADS, round(idle_cores())))


def oversubscribed(cfg: DeviceConfig, share: int | None, jobs: int) -> str | None:
    """A warning when ``device.threads`` asks for more threads than a parallel sweep's job has cores."""
    if cfg.threads is None or share is None or cfg.threads <= share:
        return None
    return (
        f"device.threads={cfg.threads} with {jobs} jobs at once on {cores()} cores: more threads than cores, "
        f"so each job waits on the others; use device.threads={share} (or null, which takes each job's share)"
    )


def resolve_device(cfg: DeviceConfig, batch_size: int = 1, share: int | None = None) -> torch.device:
    """The torch device ``cfg`` names; sets torch's CPU threads for steps of ``batch_size`` sequences (at most
    ``share`` when ntm chooses)."""
    threads = threads_for(cfg, batch_size, share)
    if threads is not None:
        torch.set_num_threads(threads)
    if cfg.name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but this torch sees no CUDA GPU; use device=cpu or device=auto")
    if cfg.name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.name)


def available_bytes(device: torch.device) -> int | None:
    """Memory free for a run on ``device``: the GPU's free memory, or the host's (within a cgroup limit)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    free = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except OSError:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            return None
    try:  # a container's own limit, where there is one
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            free = min(free, int(limit) - used) if free is not None else int(limit) - used
    except (OSError, ValueError):
        pass
    return free


# Bytes kept for the backward pass per time step and sequence, as a multiple of the recurrent state's
# bytes: what autograd saves (products, activations) takes a few times the state (docs/configuration.md).
_SAVED_PER_STATE = 3
# Parameters, their gradients and an optimizer's two moment estimates.
_COPIES_PER_PARAMETER = 4


def training_bytes(parameters: int, state_bytes: int, batch_size: int, time_steps: int) -> int:
    """A low estimate of a training step's memory: the model's copies and the activations kept for backward."""
    return 4 * parameters * _COPIES_PER_PARAMETER + _SAVED_PER_STATE * state_bytes * batch_size * time_steps


def inference_bytes(parameters: int, state_bytes: int, batch_size: int) -> int:
    """A low estimate of an evaluation's memory: the weights and a few live copies of the state."""
    return 4 * parameters + _SAVED_PER_STATE * state_bytes * batch_size


def check_fits(need: int, device: torch.device, what: str, lower: str) -> None:
    """Refuses a run whose estimated memory ``need`` exceeds what ``device`` has free."""
    free = available_bytes(device)
    if free is not None and need > free:
        raise ResourceError(
            f"{what} needs at least {need / _GIB:.1f} GiB of memory and {device.type} has {free / _GIB:.1f} GiB "
            f"free; lower {lower}"
        )


def is_out_of_memory(ex: BaseException) -> bool:
    """Whether ``ex`` is an allocation failure (CUDA or host)."""
    if isinstance(ex, (MemoryError, torch.cuda.OutOfMemoryError)):
        return True
    text = str(ex)
    return isinstance(ex, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


@contextmanager
def out_of_memory_as_error(lower: str):
    """Turns an allocation failure inside the block into one ResourceError naming the keys to lower."""
    try:
        yield
    except Exception as ex:
        if not is_out_of_memory(ex):
            raise
        first = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
        raise ResourceError(f"out of memory ({first[:120]}); lower {lower}") from None

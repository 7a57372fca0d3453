"""What a task is: the interface every task generator provides, its batches, and its per-sequence scores.

A task is a frozen dataclass whose fields are its sizes (they become the
``task.*`` config keys, typed by their annotations and described by the
``Attributes:`` section of its docstring). It subclasses ``Task``, which
gives a default for everything but ``sample`` and the two sizes, so a user's
own task is a few lines (``docs/extending.md``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F

from ntm_cli.checks import positive


class Batch(NamedTuple):
    """A batch of episodes, time-major and right-padded to the longest one.

    inputs: [time, batch, input_size]; targets: [time, batch, output_size];
    mask: [time, batch], 1.0 where a target counts toward the loss;
    steps: [batch], the number of time steps each episode really uses.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    steps: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(t.to(device, non_blocking=True) for t in self))


class MemoryDemand(NamedTuple):
    """What an episode asks a memory to hold at once: ``vectors`` of ``size`` numbers each.

    ``because`` names the task setting that sets it (``task.max_len=20``).
    A model that stores one vector per location, as the paper's NTM learns to,
    needs ``vectors`` locations; no model can hold them in fewer than
    ``vectors * size`` numbers, one per bit.
    """

    vectors: int
    size: int
    because: str


class Task:
    """The interface of a task generator, with defaults for all but ``sample``, ``input_size`` and ``output_size``.

    Subclasses are frozen dataclasses; ``name`` is the ``task=NAME`` option.
    """

    name: ClassVar[str] = "custom"
    # The validation figure that picks best.pt (lower is better; ties go to the lower cost): a metric name.
    best_by: ClassVar[str] = "bit_errors_per_sequence"
    # What counts as having learned the task (the project's target, set from the paper's results): a validation
    # metric and the most it may be; None: no target.
    target: ClassVar[tuple[str, float] | None] = None

    @property
    def input_size(self) -> int:
        raise NotImplementedError

    @property
    def output_size(self) -> int:
        raise NotImplementedError

    def sample(self, batch_size: int, generator: torch.Generator, **overrides: int) -> Batch:
        """Draws ``batch_size`` episodes from ``generator`` alone; ``overrides`` replace size fields (evaluation)."""
        raise NotImplementedError

    @property
    def train_range(self) -> str:
        """Words for the training distribution, the first row of ``ntm eval``'s table."""
        return ", ".join(f"{f.name} {getattr(self, f.name)}" for f in dataclasses.fields(self)) or self.name

    @property
    def memory_demand(self) -> MemoryDemand | None:
        """What an episode asks the memory to hold at once, or None when the task does not say."""
        return None

    def eval_rows(self, lengths: list[int] | None = None, repeats: list[int] | None = None) -> dict[str, dict]:
        """The generalisation protocol: row name -> ``sample`` overrides. ``lengths``/``repeats`` come from eval.*."""
        return {}

    def optimal_cost_bits(self, batch: Batch) -> torch.Tensor | None:
        """The cost in bits per episode [batch] of the best possible predictor, where the task knows it."""
        return None

    def problems(self) -> list[str]:
        """Every out-of-range or inconsistent size, as lines that say how to fix it."""
        return size_problems(self)

    @classmethod
    def target_figure(cls, validation: Mapping[str, float]) -> float | None:
        """The figure ``target`` bounds, from a validation's metrics by name; None without a target or that metric."""
        if cls.target is None:
            return None
        value = validation.get(cls.target[0])
        return float(value) if isinstance(value, (int, float)) else None

    @classmethod
    def reached_target(cls, validation: Mapping[str, float]) -> bool | None:
        """Whether a validation meets the task's target; None where there is none or its figure is missing."""
        value = cls.target_figure(validation)
        return None if value is None or cls.target is None else value <= cls.target[1]

    @classmethod
    def target_text(cls) -> str | None:
        """The target in words: ``bit_errors_per_sequence <= 0.01``."""
        return None if cls.target is None else f"{cls.target[0]} <= {cls.target[1]:g}"


def size_problems(task: object) -> list[str]:
    """Sizes must be positive, and each ``min_X`` at most its ``max_X``."""
    out = positive(task, "task")
    values = {f.name: getattr(task, f.name) for f in dataclasses.fields(task)}
    for key, lo in values.items():
        hi_key = f"max_{key[4:]}"
        if key.startswith("min_") and hi_key in values and lo > values[hi_key]:
            hi = values[hi_key]
            out.append(f"task.{key}={lo} is greater than task.{hi_key}={hi}; set task.{key} <= task.{hi_key}")
    return out


# Data streams: every random draw of a run comes from one of these generators,
# seeded from ``seed`` so that no two streams (or two seeds) share a sequence.
_STREAMS = {"train": 0, "validation": 1, "eval": 2}


def data_generator(seed: int, stream: str) -> torch.Generator:
    """A CPU generator for the named data stream of run ``seed``."""
    return torch.Generator().manual_seed(len(_STREAMS) * seed + _STREAMS[stream])


def place(values: torch.Tensor, offsets: torch.Tensor, valid: torch.Tensor, steps: int) -> torch.Tensor:
    """Puts each episode's rows at its own time offset in a zero tensor.

    values: [L, batch, C]; offsets: [batch]; valid: [L, batch] (False rows are
    left out). Row t of episode b lands at step offsets[b] + t. Returns
    [steps, batch, C].
    """
    length, batch, channels = values.shape
    time = torch.arange(length).unsqueeze(1) + offsets  # (L, B)
    time = torch.where(valid, time, steps)  # invalid rows go to a scratch step, dropped below
    out = torch.zeros(steps + 1, batch, channels, dtype=values.dtype)
    out.scatter_(0, time.unsqueeze(-1).expand(-1, -1, channels), values * valid.unsqueeze(-1))
    return out[:steps]


def masked_bce_bits(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Cross-entropy summed over each episode's target bits, in bits, [batch].

    This is the paper's "cost per sequence in bits" before averaging.
    """
    nats = F.binary_cross_entropy_with_logits(logits, batch.targets, reduction="none")
    return (nats.sum(-1) * batch.mask).sum(0) / math.log(2.0)


def bit_errors(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Target bits wrong after thresholding the outputs at 0.5, per episode, [batch]."""
    wrong = ((logits > 0).to(batch.targets.dtype) != batch.targets).to(logits.dtype)
    return (wrong.sum(-1) * batch.mask).sum(0)

"""Every metric ntm reports, declared once by name; training, validation, evaluation and every sink take it from here.

A metric's name is its key in ``metrics.json`` and ``eval.json`` and its
TensorBoard tag (``train/NAME``, ``val/NAME``). Adding a metric computed from
a batch's outputs is one entry in ``METRICS``: a function giving one value
per sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ntm_cli.tasks.base import Batch, Task, bit_errors, masked_bce_bits

# How a metric is summed and averaged.
SEQUENCE = "sequence"  # one value per sequence: summed over sequences, reported as the mean per sequence
STEP = "step"  # one value per optimizer step applied: reported as the mean over a logging interval
GAUGE = "gauge"  # a current value, reported as it is

TRAIN, VALIDATION, EVAL = "train", "validation", "eval"
ALL_PHASES = frozenset({TRAIN, VALIDATION, EVAL})


@dataclass(frozen=True)
class Metric:
    """name: the key everywhere; kind: SEQUENCE, STEP or GAUGE; per_sequence: (logits, batch, task) -> [batch]
    values (SEQUENCE metrics only); applies: whether a task has the metric; phases: where it is computed;
    short: its label on the progress bar (None: not shown)."""

    name: str
    kind: str
    description: str
    per_sequence: Callable[[torch.Tensor, Batch, Task], torch.Tensor] | None = None
    applies: Callable[[Task], bool] = lambda task: True
    phases: frozenset[str] = ALL_PHASES
    short: str | None = None


def _cost(logits: torch.Tensor, batch: Batch, task: Task) -> torch.Tensor:
    return masked_bce_bits(logits, batch)


def _bit_errors(logits: torch.Tensor, batch: Batch, task: Task) -> torch.Tensor:
    return bit_errors(logits, batch)


def _optimal_cost(logits: torch.Tensor, batch: Batch, task: Task) -> torch.Tensor:
    return task.optimal_cost_bits(batch)


def _knows_optimal_cost(task: Task) -> bool:
    return type(task).optimal_cost_bits is not Task.optimal_cost_bits


METRICS: tuple[Metric, ...] = (
    Metric(
        "cost_bits_per_sequence",
        SEQUENCE,
        "cross-entropy of the target bits, in bits: the paper's cost per sequence",
        _cost,
        short="cost",
    ),
    Metric(
        "bit_errors_per_sequence",
        SEQUENCE,
        "target bits wrong, outputs thresholded at 0.5",
        _bit_errors,
        short="bit_err",
    ),
    Metric(
        "optimal_cost_bits_per_sequence",
        SEQUENCE,
        "the cost of the task's optimal predictor on the same sequences (n-grams)",
        _optimal_cost,
        applies=_knows_optimal_cost,
        phases=frozenset({VALIDATION, EVAL}),
    ),
    Metric("grad_norm", STEP, "gradient norm before clipping", phases=frozenset({TRAIN})),
    Metric("lr", GAUGE, "learning rate", phases=frozenset({TRAIN})),
    Metric(
        "sequences_per_second",
        GAUGE,
        "training throughput since the last log",
        phases=frozenset({TRAIN}),
        short="seq_s",
    ),
    Metric("skipped_steps", GAUGE, "steps skipped so far for a non-finite loss or gradient", phases=frozenset({TRAIN})),
    Metric("curriculum_level", GAUGE, "the curriculum's level (1: the task as configured)", phases=frozenset({TRAIN})),
)
BY_NAME = {m.name: m for m in METRICS}


def sequence_metrics(phase: str, task: Task) -> tuple[Metric, ...]:
    """The SEQUENCE metrics of ``phase`` that ``task`` has."""
    return tuple(m for m in METRICS if m.kind == SEQUENCE and phase in m.phases and m.applies(task))


def sums(metrics: tuple[Metric, ...], logits: torch.Tensor, batch: Batch, task: Task) -> torch.Tensor:
    """Each metric summed over the batch's sequences, [len(metrics)], on the logits' device (no host sync)."""
    return torch.stack([m.per_sequence(logits, batch, task).sum().to(logits.dtype) for m in metrics])


@torch.no_grad()
def measure(
    model: torch.nn.Module,
    task: Task,
    generator: torch.Generator,
    num_sequences: int,
    batch_size: int,
    device: torch.device,
    phase: str = VALIDATION,
    **overrides: int,
) -> dict[str, float]:
    """Each SEQUENCE metric of ``phase``, as the mean per sequence over ``num_sequences`` fresh episodes.

    ``overrides`` go to ``task.sample`` (e.g. min_len=50, max_len=50).
    """
    was_training = model.training
    model.eval()
    chosen = sequence_metrics(phase, task)
    totals = None
    for start in range(0, num_sequences, batch_size):
        batch = task.sample(min(batch_size, num_sequences - start), generator, **overrides)
        lengths = batch.steps
        batch = batch.to(device)
        logits, _ = model(batch.inputs, lengths=lengths)
        part = sums(chosen, logits, batch, task)
        totals = part if totals is None else totals + part
    model.train(was_training)
    return dict(zip((m.name for m in chosen), (totals / num_sequences).tolist(), strict=True))


class TrainSums:
    """The training metrics of the steps since the last log, summed on the device; read by name with one sync.

    A step adds a vector: its SEQUENCE sums, then its STEP values, then 1 if it was applied (0 if skipped).
    """

    def __init__(self, sequence: tuple[Metric, ...], device: torch.device) -> None:
        self.sequence = sequence
        self.step = tuple(m for m in METRICS if m.kind == STEP and TRAIN in m.phases)
        self.total = torch.zeros(len(self.sequence) + len(self.step) + 1, device=device)

    def add(self, values: torch.Tensor) -> None:
        self.total += values

    def read(self, batch_size: int) -> dict[str, float]:
        """Means since the last read, over the steps applied (a skipped step has no finite value), then resets."""
        *values, applied = self.total.tolist()
        self.total.zero_()
        applied = applied or float("nan")
        n = len(self.sequence)
        out = {m.name: v / (applied * batch_size) for m, v in zip(self.sequence, values[:n], strict=True)}
        out.update({m.name: v / applied for m, v in zip(self.step, values[n:], strict=True)})
        return out


def format_values(values: dict[str, float]) -> str:
    """``name value, ...`` for a log line."""
    return ", ".join(f"{name} {value:.4f}" for name, value in values.items())

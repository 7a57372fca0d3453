"""The copy task (Graves et al. 2014, section 4.1).

An episode shows a sequence of L random ``width``-bit vectors, then a
delimiter on its own input channel, then nothing while the network must
reproduce the sequence. L is drawn uniformly from [min_len, max_len] for each
episode. Layout of one episode with L = 3, width = 8 (time runs left to right;
``x`` is a random bit, ``.`` a zero; an episode takes 2 L + 1 steps)::

    step         0 1 2 3 4 5 6
    inputs 0-7   x x x . . . .     the sequence, then silence
    input  8     . . . 1 . . .     the delimiter
    targets 0-7  . . . . x x x     the sequence again
    mask         0 0 0 0 1 1 1

A batch holds episodes of different lengths, each starting at step 0 and
right-padded with zeros (inputs, targets and mask) to the longest episode,
2 max(L) + 1 steps::

    episode a (L = 3)   s s s d o o o . . . . .      s: sequence, d: delimiter
    episode b (L = 5)   s s s s s d o o o o o        o: answer (mask 1)
                                                      .: padding (mask 0)

Padding sits after an episode's end, so it never changes what the network
sees before answering.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import torch

from ntm_cli.tasks.base import Batch, MemoryDemand, Task, place


@dataclass(frozen=True)
class CopyTask(Task):
    """Generator of copy episodes; every draw comes from the given generator.

    Attributes:
        width: bits per vector
        min_len: shortest sequence to copy
        max_len: longest sequence to copy
    """

    width: int = 8
    min_len: int = 1
    max_len: int = 20

    name: ClassVar[str] = "copy"
    # Solved: the default train.target_bit_errors.
    target: ClassVar[tuple[str, float] | None] = ("bit_errors_per_sequence", 0.01)
    # The lengths of the paper's Figure 4, used by ``ntm eval`` by default.
    default_eval_lengths: ClassVar[tuple[int, ...]] = (10, 20, 30, 50, 120)

    @property
    def input_size(self) -> int:
        return self.width + 1

    @property
    def output_size(self) -> int:
        return self.width

    @property
    def train_range(self) -> str:
        return f"length {self.min_len}-{self.max_len}"

    @property
    def memory_demand(self) -> MemoryDemand:
        """The whole sequence is held until it is written out: max_len vectors."""
        return MemoryDemand(self.max_len, self.width, f"task.max_len={self.max_len}")

    def eval_rows(self, lengths: list[int] | None = None, **_: object) -> dict[str, dict[str, int]]:
        """The generalisation protocol: one row per sequence length, with its sampling overrides."""
        return {f"length {n}": {"min_len": n, "max_len": n} for n in lengths or self.default_eval_lengths}

    def sample(self, batch_size: int, generator: torch.Generator, **overrides: int) -> Batch:
        """Draws ``batch_size`` episodes with lengths uniform in [min_len, max_len].

        ``overrides`` (min_len, max_len) replace the training range, for evaluation.
        """
        spec = replace(self, **overrides)
        lengths = torch.randint(spec.min_len, spec.max_len + 1, (batch_size,), generator=generator)
        longest = int(lengths.max())
        bits = torch.randint(0, 2, (longest, batch_size, self.width), generator=generator).float()
        time = torch.arange(longest).unsqueeze(1)  # (L, 1)
        bits = bits * (time < lengths).unsqueeze(-1)  # zero past each episode's length

        steps = 2 * longest + 1
        valid = time < lengths  # (L, B)
        inputs = torch.zeros(steps, batch_size, self.input_size)
        inputs[:longest, :, : self.width] = bits
        inputs[lengths, torch.arange(batch_size), self.width] = 1.0  # the delimiter at step L
        # The answer of episode b occupies steps L_b + 1 .. 2 L_b.
        targets = place(bits, lengths + 1, valid, steps)
        mask = place(torch.ones(longest, batch_size, 1), lengths + 1, valid, steps).squeeze(-1)
        return Batch(inputs, targets, mask, 2 * lengths + 1)

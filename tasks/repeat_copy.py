"""The repeat copy task (Graves et al. 2014, section 4.2).

An episode shows L random ``width``-bit vectors, a delimiter, then the number
of repeats R on its own input channel; the network must output the sequence R
times and then raise an end marker on an extra output channel. L and R are
drawn uniformly per episode. Layout with L = 2, R = 2, width = 8 (``x`` a
random bit, ``.`` zero, ``r`` the normalised repeat count)::

    step             0 1 2 3 4 5 6 7 8
    inputs 0-7       x x . . . . . . .     the sequence
    input  8         . . 1 . . . . . .     the delimiter, at step L
    input  9         . . . r . . . . .     the repeat count, at step L + 1
    targets 0-7      . . . . x x x x .     R copies from step L + 2
    target 8         . . . . . . . . 1     the end marker, after the last copy
    mask             0 0 0 0 1 1 1 1 1

An episode takes L + 2 + R L + 1 steps; a batch is right-padded to its
longest episode (inputs, targets and mask zero).

The repeat count is normalised to mean zero and variance one over the
training range: r = (R - mu) / sigma with mu and sigma those of the uniform
distribution on min_repeats..max_repeats. The same affine map is applied to
any R at evaluation, so repeats beyond the training range extrapolate
linearly (R = 20 after training on 1-10 gives r = 5.05).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import product
from typing import ClassVar

import torch

from ntm_cli.tasks.base import Batch, MemoryDemand, Task, place


@dataclass(frozen=True)
class RepeatCopyTask(Task):
    """Generator of repeat copy episodes.

    Attributes:
        width: bits per vector
        min_len: shortest sequence
        max_len: longest sequence
        min_repeats: fewest repeats asked for
        max_repeats: most repeats asked for
    """

    width: int = 8
    min_len: int = 1
    max_len: int = 10
    min_repeats: int = 1
    max_repeats: int = 10

    name: ClassVar[str] = "repeat_copy"
    # Solved: the default train.target_bit_errors.
    target: ClassVar[tuple[str, float] | None] = ("bit_errors_per_sequence", 0.01)
    # Figure 8: longer sequences and more repeats than trained on.
    default_eval_lengths: ClassVar[tuple[int, ...]] = (10, 20)
    default_eval_repeats: ClassVar[tuple[int, ...]] = (10, 20)

    @property
    def input_size(self) -> int:
        return self.width + 2

    @property
    def output_size(self) -> int:
        return self.width + 1

    @property
    def train_range(self) -> str:
        return f"length {self.min_len}-{self.max_len}, repeats {self.min_repeats}-{self.max_repeats}"

    @property
    def memory_demand(self) -> MemoryDemand:
        """The sequence is held through every repeat: max_len vectors."""
        return MemoryDemand(self.max_len, self.width, f"task.max_len={self.max_len}")

    def normalise_repeats(self, repeats: torch.Tensor) -> torch.Tensor:
        """(R - mu) / sigma for the discrete uniform distribution on the training range."""
        n = self.max_repeats - self.min_repeats + 1
        mu = (self.min_repeats + self.max_repeats) / 2
        sigma = math.sqrt((n * n - 1) / 12) or 1.0  # a single training value: only centre it
        return (repeats.float() - mu) / sigma

    def eval_rows(
        self, lengths: list[int] | None = None, repeats: list[int] | None = None, **_: object
    ) -> dict[str, dict[str, int]]:
        """One row per (length, repeats) pair of the protocol."""
        rows = {}
        for n, r in product(lengths or self.default_eval_lengths, repeats or self.default_eval_repeats):
            rows[f"length {n}, repeats {r}"] = {"min_len": n, "max_len": n, "min_repeats": r, "max_repeats": r}
        return rows

    def sample(self, batch_size: int, generator: torch.Generator, **overrides: int) -> Batch:
        """Draws episodes; ``overrides`` replace the length and repeat ranges (not the normalisation)."""
        spec = replace(self, **overrides)
        lengths = torch.randint(spec.min_len, spec.max_len + 1, (batch_size,), generator=generator)
        repeats = torch.randint(spec.min_repeats, spec.max_repeats + 1, (batch_size,), generator=generator)
        longest = int(lengths.max())
        bits = torch.randint(0, 2, (longest, batch_size, self.width), generator=generator).float()
        time = torch.arange(longest).unsqueeze(1)  # (L, 1)
        bits = bits * (time < lengths).unsqueeze(-1)

        total = lengths + 2 + repeats * lengths + 1  # steps of each episode
        steps = int(total.max())
        columns = torch.arange(batch_size)
        inputs = torch.zeros(steps, batch_size, self.input_size)
        inputs[:longest, :, : self.width] = bits
        inputs[lengths, columns, self.width] = 1.0
        inputs[lengths + 1, columns, self.width + 1] = self.normalise_repeats(repeats)

        # Answer step j of episode b repeats bit vector j mod L_b, for j < R_b L_b.
        answer = int((repeats * lengths).max())
        j = torch.arange(answer).unsqueeze(1)  # (J, 1)
        source = j % lengths  # (J, B)
        copies = bits.gather(0, source.unsqueeze(-1).expand(-1, -1, self.width))  # (J, B, W)
        valid = j < repeats * lengths
        targets = torch.zeros(steps, batch_size, self.output_size)
        targets[:, :, : self.width] = place(copies, lengths + 2, valid, steps)
        targets[total - 1, columns, self.width] = 1.0  # the end marker
        mask = (torch.arange(steps).unsqueeze(1) >= lengths + 2) & (torch.arange(steps).unsqueeze(1) < total)
        return Batch(inputs, targets, mask.float(), total)

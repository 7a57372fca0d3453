"""Priority sort (Graves et al. 2014, section 4.5).

An episode shows ``num_inputs`` random ``width``-bit vectors (20 in the
paper), each with a scalar priority drawn uniformly from [-1, 1] on its own
input channel; after a delimiter the network must output the ``num_outputs``
(16) vectors of highest priority, highest first. The paper does not state the
vector width; 8 is used, as in the other tasks. Layout with 3 inputs and 2
outputs (``a b c`` the vectors, ``pa pb pc`` their priorities, pb > pa > pc)::

    step            0  1  2  3  4  5
    inputs 0-7      a  b  c  .  .  .
    input  8        pa pb pc .  .  .     priority
    input  9        .  .  .  1  .  .     delimiter
    targets 0-7     .  .  .  .  b  a     sorted by priority, descending
    mask            0  0  0  0  1  1

Every episode has the same sizes, so a batch needs no padding; evaluation can
change ``num_inputs`` and ``num_outputs`` for all episodes of a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import torch

from ntm_cli.tasks.base import Batch, MemoryDemand, Task, size_problems


@dataclass(frozen=True)
class PrioritySortTask(Task):
    """Generator of priority sort episodes.

    Attributes:
        width: bits per vector
        num_inputs: vectors shown, each with a priority
        num_outputs: vectors to output, highest priority first
    """

    width: int = 8
    num_inputs: int = 20
    num_outputs: int = 16

    name: ClassVar[str] = "priority_sort"
    # The paper's NTM: about 18 bits of cost per sequence (its learning curves).
    target: ClassVar[tuple[str, float] | None] = ("cost_bits_per_sequence", 18.0)

    @property
    def input_size(self) -> int:
        return self.width + 2

    @property
    def output_size(self) -> int:
        return self.width

    @property
    def train_range(self) -> str:
        return f"{self.num_inputs} inputs, {self.num_outputs} outputs"

    @property
    def memory_demand(self) -> MemoryDemand:
        """Every input is held, with its priority, until the sorted output: num_inputs vectors."""
        return MemoryDemand(self.num_inputs, self.width + 1, f"task.num_inputs={self.num_inputs}")

    def problems(self) -> list[str]:
        out = size_problems(self)
        if self.num_outputs > self.num_inputs:
            out.append(f"task.num_outputs={self.num_outputs} exceeds task.num_inputs={self.num_inputs}; lower it")
        return out

    def eval_rows(self, lengths: list[int] | None = None, **_: object) -> dict[str, dict[str, int]]:
        """Other numbers of inputs (keeping the ratio of outputs), when asked; none by default."""
        rows = {}
        for n in lengths or []:
            outputs = max(1, round(n * self.num_outputs / self.num_inputs))
            rows[f"{n} inputs, {outputs} outputs"] = {"num_inputs": n, "num_outputs": outputs}
        return rows

    def sample(self, batch_size: int, generator: torch.Generator, **overrides: int) -> Batch:
        """Draws episodes; ``overrides`` (num_inputs, num_outputs) change the sizes."""
        spec = replace(self, **overrides)
        n, k = spec.num_inputs, spec.num_outputs
        bits = torch.randint(0, 2, (n, batch_size, self.width), generator=generator).float()
        priority = torch.rand(n, batch_size, generator=generator) * 2 - 1
        order = priority.argsort(dim=0, descending=True)[:k]  # (k, B)
        steps = n + 1 + k
        inputs = torch.zeros(steps, batch_size, self.input_size)
        inputs[:n, :, : self.width] = bits
        inputs[:n, :, self.width] = priority
        inputs[n, :, self.width + 1] = 1.0
        targets = torch.zeros(steps, batch_size, self.output_size)
        targets[n + 1 :] = bits.gather(0, order.unsqueeze(-1).expand(-1, -1, self.width))
        mask = torch.zeros(steps, batch_size)
        mask[n + 1 :] = 1.0
        return Batch(inputs, targets, mask, torch.full((batch_size,), steps))

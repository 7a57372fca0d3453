"""Dynamic N-grams (Graves et al. 2014, section 4.4).

Each episode draws its own 6-gram model: for every 5-bit context c, a
probability p(c) that the next bit is 1, from Beta(1/2, 1/2). The first
``context`` bits are fair coin flips; every later bit is 1 with probability
p(previous 5 bits). The network predicts each bit from the bits before it.
Layout with length = 6 (``b0 .. b5`` the bits; the input is the previous bit)::

    step        0  1  2  3  4  5
    input 0     .  b0 b1 b2 b3 b4
    target 0    b0 b1 b2 b3 b4 b5
    mask        1  1  1  1  1  1

Every episode has ``length`` steps (200 in the paper), so a batch needs no
padding. The optimal Bayesian estimator with a Beta(1/2, 1/2) prior predicts
P(1 | N1, N0, c) = (N1 + 1/2) / (N1 + N0 + 1), from the counts N1, N0 of ones
and zeros seen so far after context c; ``optimal_cost_bits`` gives its cost so
that a model's gap to the optimum can be read off. Beta(1/2, 1/2) is drawn as
sin^2(pi U / 2) with U uniform, which keeps every draw on the given generator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch

from ntm_cli.tasks.base import Batch, MemoryDemand, Task


@dataclass(frozen=True)
class NgramTask(Task):
    """Generator of dynamic n-gram episodes.

    Attributes:
        context: bits of context that set the next bit's probability (5: a 6-gram model)
        length: bits per sequence
    """

    context: int = 5
    length: int = 200

    name: ClassVar[str] = "ngram"
    # The validation figure that picks best.pt: the cost, since no predictor of these
    # random bits can do without bit errors (the optimal estimator makes about 48 per sequence).
    best_by: ClassVar[str] = "cost_bits_per_sequence"
    # The paper's NTM: within about 1 bit of the optimal estimator's cost (its learning curves).
    target: ClassVar[tuple[str, float] | None] = ("cost_above_optimal_bits_per_sequence", 1.0)

    @property
    def input_size(self) -> int:
        return 1

    @property
    def output_size(self) -> int:
        return 1

    @property
    def train_range(self) -> str:
        return f"{self.length} bits"

    @property
    def memory_demand(self) -> MemoryDemand:
        """The optimal estimator's two counts per context seen: 2^context contexts (at most length)."""
        contexts = min(2**self.context, self.length)
        return MemoryDemand(contexts, 2, f"task.context={self.context} (2^{self.context} contexts)")

    def eval_rows(self, lengths: list[int] | None = None, **_: object) -> dict[str, dict[str, int]]:
        """Sequences of other lengths, when asked; the training length alone by default."""
        return {f"{n} bits": {"length": n} for n in lengths or []}

    def sample(self, batch_size: int, generator: torch.Generator, length: int | None = None) -> Batch:
        """Draws episodes of ``length`` bits (default: the task's), each with its own 6-gram model."""
        steps = self.length if length is None else length
        contexts = 2**self.context
        probs = torch.sin(torch.rand(batch_size, contexts, generator=generator) * (math.pi / 2)) ** 2
        uniform = torch.rand(steps, batch_size, generator=generator)
        bits = torch.zeros(steps, batch_size)
        ctx = torch.zeros(batch_size, dtype=torch.long)  # the last `context` bits as an integer
        rows = torch.arange(batch_size)
        for t in range(steps):
            p = probs[rows, ctx] if t >= self.context else torch.full((batch_size,), 0.5)
            bits[t] = (uniform[t] < p).float()
            ctx = (ctx * 2 + bits[t].long()) % contexts
        inputs = torch.zeros(steps, batch_size, 1)
        inputs[1:, :, 0] = bits[:-1]
        return Batch(inputs, bits.unsqueeze(-1), torch.ones(steps, batch_size), torch.full((batch_size,), steps))

    @classmethod
    def target_figure(cls, validation: Mapping[str, float]) -> float | None:
        """Cost above the optimal estimator's on the same sequences, bits per sequence."""
        cost, optimal = validation.get("cost_bits_per_sequence"), validation.get("optimal_cost_bits_per_sequence")
        if not isinstance(cost, (int, float)) or not isinstance(optimal, (int, float)):
            return None
        return float(cost) - float(optimal)

    def optimal_cost_bits(self, batch: Batch) -> torch.Tensor:
        """Cost in bits per episode of the optimal Bayesian estimator on the same bits, [batch]."""
        bits = batch.targets[..., 0].long().cpu()  # (T, B)
        steps, batch_size = bits.shape
        contexts = 2**self.context
        ones = torch.zeros(batch_size, contexts)
        zeros = torch.zeros(batch_size, contexts)
        ctx = torch.zeros(batch_size, dtype=torch.long)
        rows = torch.arange(batch_size)
        cost = torch.zeros(batch_size, dtype=torch.float64)
        for t in range(steps):
            bit = bits[t]
            if t < self.context:
                p_one = torch.full((batch_size,), 0.5)
            else:
                n1, n0 = ones[rows, ctx], zeros[rows, ctx]
                p_one = (n1 + 0.5) / (n1 + n0 + 1.0)
                ones[rows, ctx] += bit
                zeros[rows, ctx] += 1 - bit
            p_bit = torch.where(bit == 1, p_one, 1 - p_one)
            cost -= torch.log2(p_bit).double()
            ctx = (ctx * 2 + bit) % contexts
        return cost.float().to(batch.targets.device)

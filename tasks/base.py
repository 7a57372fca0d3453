"""What every task generator returns, and the metrics every task reports."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F


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

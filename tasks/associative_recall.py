"""The associative recall task (Graves et al. 2014, section 4.3).

An episode shows a list of items, each ``item_len`` random ``width``-bit
vectors (3 of 6 bits, as in the paper) opened by an item delimiter on its own
input channel; then a query, one of the items except the last, between two
query delimiters on another channel. The network must output the item that
followed the query in the list. Layout with 2 items, item_len = 3 (``a``, ``b``
the items' bits, the query is item a, so the target is b)::

    step            0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
    inputs 0-5      . a a a . b b b . a a  a  .  .  .  .
    input  6        1 . . . 1 . . . . . .  .  .  .  .  .    item delimiter
    input  7        . . . . . . . . 1 . .  .  1  .  .  .    query delimiter
    targets 0-5     . . . . . . . . . . .  .  .  b  b  b
    mask            0 0 0 0 0 0 0 0 0 0 0  0  0  1  1  1

An episode of n items takes (item_len + 1) n + item_len + 2 + item_len steps;
n is drawn uniformly from [min_items, max_items] per episode and a batch is
right-padded to its longest episode. Items are drawn independently, so two
items can coincide (probability about n^2 / 2^19 for 3 x 6 bits).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import torch

from ntm_cli.tasks.base import Batch, MemoryDemand, Task, place, size_problems


@dataclass(frozen=True)
class AssociativeRecallTask(Task):
    """Generator of associative recall episodes.

    Attributes:
        width: bits per vector
        item_len: vectors per item
        min_items: fewest items in a list (2 or more: the query needs an item after it)
        max_items: most items in a list
    """

    width: int = 6
    item_len: int = 3
    min_items: int = 2
    max_items: int = 6

    name: ClassVar[str] = "associative_recall"
    # The paper's NTM: near 0 bits of cost per sequence by 30k sequences (its learning curves).
    target: ClassVar[tuple[str, float] | None] = ("cost_bits_per_sequence", 1.0)
    # Figure 11: 6, 10, 15 and 20 items.
    default_eval_lengths: ClassVar[tuple[int, ...]] = (6, 10, 15, 20)

    @property
    def input_size(self) -> int:
        return self.width + 2

    @property
    def output_size(self) -> int:
        return self.width

    @property
    def train_range(self) -> str:
        return f"items {self.min_items}-{self.max_items}"

    @property
    def memory_demand(self) -> MemoryDemand:
        """Every item is held until the query: max_items items of item_len vectors."""
        return MemoryDemand(
            self.max_items * self.item_len,
            self.width,
            f"task.max_items={self.max_items} x task.item_len={self.item_len}",
        )

    def problems(self) -> list[str]:
        out = size_problems(self)
        if self.min_items < 2:
            out.append(f"task.min_items={self.min_items}: a query needs an item after it; use 2 or more")
        return out

    def eval_rows(self, lengths: list[int] | None = None, **_: object) -> dict[str, dict[str, int]]:
        """One row per number of items."""
        return {f"items {n}": {"min_items": n, "max_items": n} for n in lengths or self.default_eval_lengths}

    def sample(self, batch_size: int, generator: torch.Generator, **overrides: int) -> Batch:
        """Draws episodes; ``overrides`` (min_items, max_items) replace the training range."""
        spec = replace(self, **overrides)
        k = self.item_len
        items = torch.randint(spec.min_items, spec.max_items + 1, (batch_size,), generator=generator)
        most = int(items.max())
        bits = torch.randint(0, 2, (most, k, batch_size, self.width), generator=generator).float()
        # The query is item q, uniform over 0 .. n - 2; the target is item q + 1.
        query = (torch.rand(batch_size, generator=generator) * (items - 1)).long()
        columns = torch.arange(batch_size)

        list_steps = (k + 1) * items  # (B,)
        total = list_steps + k + 2 + k
        steps = int(total.max())
        inputs = torch.zeros(steps, batch_size, self.input_size)
        item_index = torch.arange(most).unsqueeze(1)  # (I, 1)
        present = item_index < items  # (I, B)
        # Item i opens with a delimiter at step (k + 1) i, then its k vectors.
        opening = (k + 1) * item_index.expand(-1, batch_size)
        inputs[opening[present], columns.expand(most, -1)[present], self.width] = 1.0
        listed = torch.cat([torch.zeros(most, 1, batch_size, self.width), bits], dim=1)  # (I, k + 1, B, W)
        listed = listed.reshape(most * (k + 1), batch_size, self.width)
        row_valid = present.repeat_interleave(k + 1, dim=0)
        inputs[:, :, : self.width] = place(listed, torch.zeros_like(items), row_valid, steps)

        inputs[list_steps, columns, self.width + 1] = 1.0
        inputs[list_steps + k + 1, columns, self.width + 1] = 1.0
        always = torch.ones(k, batch_size, dtype=torch.bool)
        query_bits = bits[query, :, columns].transpose(0, 1)  # (k, B, W)
        inputs[:, :, : self.width] += place(query_bits, list_steps + 1, always, steps)
        answer = bits[query + 1, :, columns].transpose(0, 1)
        targets = place(answer, list_steps + k + 2, always, steps)
        mask = place(torch.ones(k, batch_size, 1), list_steps + k + 2, always, steps).squeeze(-1)
        return Batch(inputs, targets, mask, total)

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

from dataclasses import dataclass

import torch

from tasks.base import Batch


@dataclass(frozen=True)
class CopyTask:
    """Generator of copy episodes; every draw comes from the given generator."""

    width: int = 8
    min_len: int = 1
    max_len: int = 20

    # The lengths of the paper's Figure 4, used by ``ntm eval`` by default.
    default_eval_lengths: tuple[int, ...] = (10, 20, 30, 50, 120)

    @property
    def input_size(self) -> int:
        return self.width + 1

    @property
    def output_size(self) -> int:
        return self.width

    def max_steps(self, max_len: int | None = None) -> int:
        """Time steps of the longest episode: 2 L + 1."""
        return 2 * (self.max_len if max_len is None else max_len) + 1

    def sample(
        self,
        batch_size: int,
        generator: torch.Generator,
        min_len: int | None = None,
        max_len: int | None = None,
    ) -> Batch:
        """Draws ``batch_size`` episodes with lengths uniform in [min_len, max_len].

        ``min_len``/``max_len`` default to the task's training range.
        """
        lo = self.min_len if min_len is None else min_len
        hi = self.max_len if max_len is None else max_len
        lengths = torch.randint(lo, hi + 1, (batch_size,), generator=generator)
        longest = int(lengths.max())
        bits = torch.randint(0, 2, (longest, batch_size, self.width), generator=generator).float()
        time = torch.arange(longest).unsqueeze(1)  # (L, 1)
        bits = bits * (time < lengths).unsqueeze(-1)  # zero past each episode's length

        steps = 2 * longest + 1
        inputs = torch.zeros(steps, batch_size, self.input_size)
        targets = torch.zeros(steps, batch_size, self.output_size)
        inputs[:longest, :, : self.width] = bits
        columns = torch.arange(batch_size)
        inputs[lengths, columns, self.width] = 1.0  # the delimiter at step L
        # The answer of episode b occupies steps L_b + 1 .. 2 L_b.
        answer_time = time + lengths + 1  # (L, B)
        answer_time = torch.where(time < lengths, answer_time, steps)  # park padding out of range
        padded = torch.zeros(steps + 1, batch_size, self.output_size)
        padded.scatter_(0, answer_time.unsqueeze(-1).expand(-1, -1, self.width), bits)
        targets = padded[:steps]
        mask = torch.zeros(steps + 1, batch_size)
        mask.scatter_(0, answer_time, 1.0)
        return Batch(inputs, targets, mask[:steps], 2 * lengths + 1)

"""What the stepwise models (NTM, DNC) share: running a step function over a sequence."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# (x [batch, input], state) -> (features [batch, F], state)
StepFn = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]


def multi_step(step: StepFn) -> StepFn:
    """``step`` over several time steps in one call: (inputs [k, batch, input], state) -> (features [k, batch, F],
    state). Compiled, k steps make one graph, so the per-call overhead is paid once per k steps."""

    def run(inputs: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        features = []
        for x in inputs.unbind(0):
            f, state = step(x, state)
            features.append(f)
        return torch.stack(features), state

    return run


@dataclass(frozen=True)
class Chunked:
    """A ``multi_step`` function (e.g. compiled) that ``unroll`` calls on chunks of ``size`` time steps.

    The sequence is padded with zero inputs to a multiple of ``size`` (one
    static shape for every call): those steps' outputs are dropped, but the
    state ``unroll`` returns is the one after them. Training uses only the outputs.
    """

    run: StepFn
    size: int


def map_states(fn: Callable[..., torch.Tensor], *states: Any) -> Any:
    """Applies ``fn`` leaf by leaf across states of one structure: tensors, or (named) tuples and lists of them.

    ``fn`` gets one tensor from each state: ``map_states(f, s)`` maps one state,
    ``map_states(lambda *xs: torch.cat(xs), a, b)`` joins two along the batch.
    """
    first = states[0]
    if isinstance(first, torch.Tensor):
        return fn(*states)
    if isinstance(first, (tuple, list)):
        parts = [map_states(fn, *leaves) for leaves in zip(*states, strict=True)]
        return type(first)(*parts) if hasattr(first, "_fields") else type(first)(parts)
    return first


def unroll(
    step: StepFn | Chunked,
    inputs: torch.Tensor,
    state: Any,
    output: nn.Module,
    lengths: torch.Tensor | Sequence[int] | None = None,
) -> tuple[torch.Tensor, Any]:
    """Calls ``step`` at every time step of inputs [time, batch, input].

    Returns (output(features) [time, batch, out], the last state): the output
    layer runs once, as one matrix multiply over all the stacked steps.

    ``lengths`` [batch] (on the CPU), the time steps each sequence really uses,
    skips the padding after each sequence's end: the batch is taken longest
    first and the step runs only on the sequences still going, so a batch of
    mixed lengths costs the sum of its lengths rather than batch x the longest.
    Past its end a sequence's features are zero (its outputs are the output
    layer's bias; targets there are masked), and the state returned is each
    sequence's own at its end.

    A ``Chunked`` step runs ``step.size`` time steps per call (see ``Chunked``); it computes the whole padded batch.
    """
    if isinstance(step, Chunked):
        return _unroll_chunked(step, inputs, state, output)
    if lengths is not None:
        lengths = torch.as_tensor(lengths, device="cpu").clamp(min=1)
        if int(lengths.min()) < inputs.shape[0]:
            return _unroll_ragged(step, inputs, state, output, lengths)
    features = []
    for x in inputs:
        f, state = step(x, state)
        features.append(f)
    return output(torch.stack(features)), state


def _unroll_ragged(
    step: StepFn, inputs: torch.Tensor, state: Any, output: nn.Module, lengths: torch.Tensor
) -> tuple[torch.Tensor, Any]:
    """``unroll`` over sequences of different ``lengths``, computing no step past a sequence's end."""
    steps, batch = inputs.shape[:2]
    order = torch.argsort(lengths, descending=True, stable=True)
    ends = lengths[order].tolist()  # non-increasing
    order = order.to(inputs.device)
    inputs = inputs.index_select(1, order)
    state = map_states(lambda s: s.index_select(0, order), state)
    features, ended = [], []  # ended: the states of the rows that stopped, last rows first
    running = batch
    for t in range(steps):
        still = running
        while still > 0 and ends[still - 1] <= t:
            still -= 1
        if still < running:
            ended.append(map_states(lambda s, lo=still, hi=running: s[lo:hi], state))
            state = map_states(lambda s, hi=still: s[:hi], state)
            running = still
        if running == 0:
            features.append(features[-1].new_zeros(batch, features[-1].shape[-1]))
            continue
        f, state = step(inputs[t, :running], state)
        features.append(f if running == batch else F.pad(f, (0, 0, 0, batch - running)))
    if running > 0:
        ended.append(state)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(batch, device=order.device)
    logits = output(torch.stack(features)).index_select(1, inverse)
    joined = map_states(lambda *rows: torch.cat(rows), *ended[::-1])
    final = map_states(lambda s: s.index_select(0, inverse), joined)
    return logits, final


def _unroll_chunked(step: Chunked, inputs: torch.Tensor, state: Any, output: nn.Module) -> tuple[torch.Tensor, Any]:
    """``unroll`` with a ``Chunked`` step: the inputs padded to a multiple of its size, the padded outputs dropped."""
    steps = inputs.shape[0]
    padded = F.pad(inputs, (0, 0, 0, 0, 0, -steps % step.size))
    features = []
    for chunk in padded.split(step.size):
        f, state = step.run(chunk, state)
        features.append(f)
    return output(torch.cat(features)[:steps]), state

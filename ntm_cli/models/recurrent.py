"""What the stepwise models (NTM, DNC) share: running a step function over a sequence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

# (x [batch, input], state) -> (features [batch, F], state)
StepFn = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]


def unroll(step: StepFn, inputs: torch.Tensor, state: Any, output: nn.Module) -> tuple[torch.Tensor, Any]:
    """Calls ``step`` at every time step of inputs [time, batch, input].

    Returns (output(features) [time, batch, out], the last state): the output
    layer runs once, as one matrix multiply over all the stacked steps.
    """
    features = []
    for x in inputs:
        f, state = step(x, state)
        features.append(f)
    return output(torch.stack(features)), state

"""The LSTM baseline of Graves et al. (2014): stacked LSTMs and a logits layer, no memory.

It runs a whole sequence through ``torch.nn.LSTM`` (one fused kernel per layer
instead of a Python loop over time). The recurrent state is the pair
``(h, c)``, each [layers, batch, hidden], passed in and returned; episodes
start from a learned initial state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from ntm_cli.checks import positive


class LSTMState(NamedTuple):
    """h and c: [layers, batch, hidden]."""

    h: torch.Tensor
    c: torch.Tensor


class LSTMBaseline(nn.Module):
    """``layers`` stacked LSTMs of ``hidden_size`` units with a linear output layer."""

    # The sequence runs in nn.LSTM: there is no per-step function for train.compile to compile.
    stepwise = False

    def __init__(self, input_size: int, output_size: int, *, hidden_size: int = 256, layers: int = 3) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=layers)
        self.output = nn.Linear(hidden_size, output_size)
        self.h0 = nn.Parameter(torch.zeros(layers, 1, hidden_size))
        self.c0 = nn.Parameter(torch.zeros(layers, 1, hidden_size))

    def initial_state(self, batch_size: int, generator: torch.Generator | None = None) -> LSTMState:
        return LSTMState(
            self.h0.expand(-1, batch_size, -1).contiguous(), self.c0.expand(-1, batch_size, -1).contiguous()
        )

    def forward(
        self,
        inputs: torch.Tensor,
        state: LSTMState | None = None,
        step: None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, LSTMState]:
        """inputs: [time, batch, input] -> (logits [time, batch, output], state).

        ``lengths`` is accepted for a common interface and not used: torch's LSTM
        kernel runs the whole padded batch in one call.
        """
        if step is not None:
            raise ValueError("the LSTM baseline runs whole sequences; it takes no step function")
        if state is None:
            state = self.initial_state(inputs.shape[1])
        hidden, (h, c) = self.lstm(inputs, tuple(state))
        return self.output(hidden), LSTMState(h, c)


@dataclass
class LSTMConfig:
    """The LSTM baseline (model=lstm): no controller, no memory.

    Attributes:
        name: the model option
        hidden_size: units per layer
        layers: stacked LSTM layers
    """

    name: str = "lstm"
    hidden_size: int = 256
    layers: int = 3

    def problems(self) -> list[str]:
        return positive(self, "model")


def lstm_sizes(cfg: LSTMConfig, controller: object, input_size: int, output_size: int) -> tuple[int, int]:
    """(parameters, state floats per sequence) of the baseline ``cfg`` describes, without building it."""
    h, layers = cfg.hidden_size, cfg.layers
    weights = sum(4 * h * ((input_size if i == 0 else h) + h) + 8 * h for i in range(layers))
    return weights + 2 * h * layers + (h + 1) * output_size, 2 * h * layers


def build_lstm(cfg: LSTMConfig, controller: object, input_size: int, output_size: int) -> LSTMBaseline:
    """The baseline a config describes; ``controller`` does not apply to it."""
    return LSTMBaseline(input_size, output_size, hidden_size=cfg.hidden_size, layers=cfg.layers)

"""Controllers: the network that reads the input and drives the memory heads.

A controller maps ``(x, state) -> (h, state)`` with ``x: [batch, in]`` and
``h: [batch, hidden]``. Its recurrent state is a tuple of tensors that the
caller carries between steps; the feedforward controller's state is empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ntm_cli.checks import choice, positive

ControllerState = tuple[torch.Tensor, ...]


class LSTMController(nn.Module):
    """A stack of LSTM cells whose initial state is learned (a bias per unit).

    State: ``(h_1, c_1, ..., h_L, c_L)``, each [batch, hidden].
    """

    def __init__(self, input_size: int, hidden_size: int, layers: int = 1) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.cells = nn.ModuleList(
            nn.LSTMCell(input_size if i == 0 else hidden_size, hidden_size) for i in range(layers)
        )
        self.h0 = nn.Parameter(torch.zeros(layers, hidden_size))
        self.c0 = nn.Parameter(torch.zeros(layers, hidden_size))

    def initial_state(self, batch_size: int) -> ControllerState:
        state: list[torch.Tensor] = []
        for i in range(len(self.cells)):
            state += [self.h0[i].expand(batch_size, -1), self.c0[i].expand(batch_size, -1)]
        return tuple(state)

    def forward(self, x: torch.Tensor, state: ControllerState) -> tuple[torch.Tensor, ControllerState]:
        new_state: list[torch.Tensor] = []
        h = x
        for i, cell in enumerate(self.cells):
            h, c = cell(h, (state[2 * i], state[2 * i + 1]))
            new_state += [h, c]
        return h, tuple(new_state)


class FeedforwardController(nn.Module):
    """Layers of ``tanh(W x + b)``; it keeps no state between steps."""

    def __init__(self, input_size: int, hidden_size: int, layers: int = 1) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        sizes = [input_size] + [hidden_size] * layers
        self.net = nn.Sequential()
        for i in range(layers):
            self.net.append(nn.Linear(sizes[i], sizes[i + 1]))
            self.net.append(nn.Tanh())

    def initial_state(self, batch_size: int) -> ControllerState:
        return ()

    def forward(self, x: torch.Tensor, state: ControllerState) -> tuple[torch.Tensor, ControllerState]:
        return self.net(x), state


CONTROLLERS: dict[str, type[nn.Module]] = {
    "lstm": LSTMController,
    "feedforward": FeedforwardController,
}


@dataclass
class ControllerConfig:
    """The controller of a memory model (the NTM's and the DNC's; the LSTM baseline has none).

    Attributes:
        name: lstm or feedforward
        hidden_size: units per layer (the paper's copy NTM: 100)
        layers: stacked layers
    """

    name: str = "lstm"
    hidden_size: int = 100
    layers: int = 1

    def problems(self) -> list[str]:
        return choice("controller", self.name, CONTROLLERS) + positive(self, "controller")


def controller_sizes(cfg: ControllerConfig, input_size: int) -> tuple[int, int]:
    """(parameters, state floats per sequence) of the controller ``cfg`` describes, without building it."""
    h, layers = cfg.hidden_size, cfg.layers
    if cfg.name == "feedforward":
        return sum((input_size if i == 0 else h) * h + h for i in range(layers)), 0
    weights = sum(4 * h * ((input_size if i == 0 else h) + h) + 8 * h for i in range(layers))
    return weights + 2 * h * layers, 2 * h * layers


def controller_arguments(cfg: ControllerConfig) -> dict[str, object]:
    """A controller config as the memory models' constructor arguments."""
    return {"controller": cfg.name, "hidden_size": cfg.hidden_size, "controller_layers": cfg.layers}


def build_controller(name: str, input_size: int, hidden_size: int, layers: int) -> nn.Module:
    """Builds the controller called ``name`` (a key of ``CONTROLLERS``)."""
    return CONTROLLERS[name](input_size, hidden_size, layers)

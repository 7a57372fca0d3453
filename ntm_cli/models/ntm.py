"""The Neural Turing Machine: a controller, read and write heads, and a memory.

One step (Graves et al. 2014, section 3), for all heads at once:

    controller([x_t, r_{t-1}])          -> h_t
    address every head on M_{t-1}        -> w_t   [batch, R + W, N]
    erase then add with the write heads  -> M_t
    read M_t with the read heads         -> r_t   [batch, R, M]
    output layer([h_t, r_t])             -> logits

The recurrent state is an ``NTMState`` passed in and returned; the module
keeps nothing between steps. Every episode starts from ``initial_state``:
learned controller state, learned read vectors, learned head weightings
(initialised focused on location 0) and a memory set by ``memory_init``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from ntm_cli.checks import choice, positive
from ntm_cli.models import addressing
from ntm_cli.models.controllers import (
    ControllerConfig,
    ControllerState,
    build_controller,
    controller_arguments,
    controller_sizes,
)
from ntm_cli.models.recurrent import Chunked, StepFn, unroll

MEMORY_INITS = ("constant", "learned", "random")
# Logit of location 0 in the initial head weightings: softmax puts ~0.99 there.
_INITIAL_FOCUS_LOGIT = 10.0


class NTMState(NamedTuple):
    """Everything the NTM carries from one step to the next.

    controller: the controller's state tuple; reads: [batch, R, M];
    weights: [batch, R + W, N] (read heads first); memory: [batch, M, N]
    (location i's word is ``memory[:, :, i]``; see ``addressing``).
    """

    controller: ControllerState
    reads: torch.Tensor
    weights: torch.Tensor
    memory: torch.Tensor


class NTM(nn.Module):
    """Neural Turing Machine with any number of read and write heads."""

    # forward loops over time calling ``step``, which train.compile may compile.
    stepwise = True

    def __init__(
        self,
        input_size: int,
        output_size: int,
        *,
        controller: str = "lstm",
        hidden_size: int = 100,
        controller_layers: int = 1,
        memory_n: int = 128,
        memory_m: int = 20,
        read_heads: int = 1,
        write_heads: int = 1,
        shift_range: int = 1,
        memory_init: str = "constant",
        memory_init_value: float = 1e-6,
    ) -> None:
        super().__init__()
        if memory_init not in MEMORY_INITS:
            raise ValueError(f"memory_init must be one of {MEMORY_INITS}, got {memory_init!r}")
        if 2 * shift_range + 1 > memory_n:
            raise ValueError(f"shift_range={shift_range} needs memory_n >= {2 * shift_range + 1}, got {memory_n}")
        self.memory_n, self.memory_m = memory_n, memory_m
        self.read_heads, self.write_heads = read_heads, write_heads
        self.shifts = 2 * shift_range + 1
        self.memory_init, self.memory_init_value = memory_init, memory_init_value

        self.controller = build_controller(
            controller, input_size + read_heads * memory_m, hidden_size, controller_layers
        )
        heads = read_heads + write_heads
        # Per head: key (M), beta, g, shift (S), gamma; per write head: erase and add (M each).
        self._address_sizes = [memory_m, 1, 1, self.shifts, 1]
        self._address_width = heads * sum(self._address_sizes)
        self.head_params = nn.Linear(hidden_size, self._address_width + write_heads * 2 * memory_m)
        self.output = nn.Linear(hidden_size + read_heads * memory_m, output_size)

        self.initial_reads = nn.Parameter(0.01 * torch.randn(read_heads, memory_m))
        logits = torch.zeros(heads, memory_n)
        logits[:, 0] = _INITIAL_FOCUS_LOGIT
        self.initial_weight_logits = nn.Parameter(logits)
        if memory_init == "learned":
            self.initial_memory = nn.Parameter(memory_init_value * torch.randn(memory_n, memory_m))
        else:
            self.register_buffer(
                "initial_memory", torch.full((memory_n, memory_m), memory_init_value), persistent=False
            )

    def initial_state(self, batch_size: int, generator: torch.Generator | None = None) -> NTMState:
        """The state every episode starts from; ``generator`` draws a random memory."""
        # initial_memory is [N, M], one row per location, as checkpoints store it; the state
        # holds [batch, M, N], contiguous along N, so that every later step's memory is too.
        if self.memory_init == "random":
            noise = torch.randn(
                batch_size, self.memory_n, self.memory_m, generator=generator, device=self.initial_memory.device
            )
            memory = (self.memory_init_value * noise).transpose(1, 2).contiguous()
        else:
            memory = self.initial_memory.t().contiguous().expand(batch_size, -1, -1)
        weights = torch.softmax(self.initial_weight_logits, dim=-1)
        return NTMState(
            controller=self.controller.initial_state(batch_size),
            reads=self.initial_reads.expand(batch_size, -1, -1),
            weights=weights.expand(batch_size, -1, -1),
            memory=memory,
        )

    def step(self, x: torch.Tensor, state: NTMState) -> tuple[torch.Tensor, NTMState]:
        """One time step. x: [batch, input] -> (features [batch, hidden + R M], state)."""
        batch = x.shape[0]
        h, controller_state = self.controller(torch.cat([x, state.reads.flatten(1)], dim=-1), state.controller)
        params = self.head_params(h)
        address_params, write_params = params.split(
            [self._address_width, params.shape[-1] - self._address_width], dim=-1
        )
        raw = address_params.view(batch, -1, sum(self._address_sizes)).split(self._address_sizes, dim=-1)
        key, beta, gate, shift, gamma = addressing.head_activations(*raw)
        weights = addressing.address(key, beta, gate, shift, gamma, state.weights, state.memory)

        erase, add = write_params.view(batch, self.write_heads, 2 * self.memory_m).chunk(2, dim=-1)
        memory = addressing.write(state.memory, weights[:, self.read_heads :], torch.sigmoid(erase), torch.tanh(add))
        reads = addressing.read(memory, weights[:, : self.read_heads])
        features = torch.cat([h, reads.flatten(1)], dim=-1)
        return features, NTMState(controller_state, reads, weights, memory)

    def forward(
        self,
        inputs: torch.Tensor,
        state: NTMState | None = None,
        step: StepFn | Chunked | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, NTMState]:
        """Runs a whole sequence. inputs: [time, batch, input] -> (logits [time, batch, output], state).

        ``step`` replaces ``self.step`` for every time step, e.g. a
        ``torch.compile``d version of it (the training loop's ``train.compile``),
        or is a ``Chunked`` one that runs several time steps per call.
        ``lengths`` [batch] (CPU): the steps each sequence uses; none is computed past its end.
        """
        if state is None:
            state = self.initial_state(inputs.shape[1])
        return unroll(step or self.step, inputs, state, self.output, lengths)


def resize_memory(state: dict[str, torch.Tensor], memory_n: int) -> dict[str, torch.Tensor]:
    """An NTM state dict adapted to ``memory_n`` locations, for evaluation with a larger memory.

    The NTM's weights do not depend on N, except the learned initial head
    weightings [heads, N]: new locations get each head's mean logit over the
    unfocused locations 1..N-1 (fewer locations keep the first ``memory_n``).
    A learned initial memory is tied to its N and cannot be resized.
    """
    logits = state["initial_weight_logits"]
    old_n = logits.shape[-1]
    if memory_n == old_n:
        return state
    if "initial_memory" in state:
        raise ValueError(
            "a model trained with model.memory_init=learned has one learned word per location, "
            "so eval.memory_n cannot change its number of locations; drop eval.memory_n"
        )
    if memory_n < old_n:
        resized = logits[:, :memory_n]
    else:
        background = logits[:, 1:].mean(dim=-1, keepdim=True) if old_n > 1 else torch.zeros_like(logits)
        resized = torch.cat([logits, background.expand(-1, memory_n - old_n)], dim=-1)
    return {**state, "initial_weight_logits": resized.contiguous()}


@dataclass
class NTMConfig:
    """The NTM's memory and heads (model=ntm).

    Attributes:
        name: the model option
        memory_n: memory locations N
        memory_m: numbers per location M
        read_heads: read heads R
        write_heads: write heads W
        shift_range: the heads shift by -shift_range..shift_range locations a step
        memory_init: the memory every episode starts from: constant, learned or random
        memory_init_value: that constant, or the scale of the learned or random initial values
    """

    name: str = "ntm"
    memory_n: int = 128
    memory_m: int = 20
    read_heads: int = 1
    write_heads: int = 1
    shift_range: int = 1
    memory_init: str = "constant"
    memory_init_value: float = 1e-6

    def problems(self) -> list[str]:
        out = positive(self, "model", ("memory_n", "memory_m", "read_heads", "write_heads"))
        out += choice("model.memory_init", self.memory_init, MEMORY_INITS)
        if self.shift_range < 0:
            out.append(f"model.shift_range={self.shift_range} must be 0 or more")
        elif 2 * self.shift_range + 1 > self.memory_n:
            out.append(f"model.shift_range={self.shift_range} needs model.memory_n >= {2 * self.shift_range + 1}")
        return out


def ntm_sizes(cfg: NTMConfig, controller: ControllerConfig, input_size: int, output_size: int) -> tuple[int, int]:
    """(parameters, state floats per sequence) of the NTM ``cfg`` describes, without building it."""
    n, m, r, w = cfg.memory_n, cfg.memory_m, cfg.read_heads, cfg.write_heads
    weights, state = controller_sizes(controller, input_size + r * m)
    heads_out = (r + w) * (m + 3 + 2 * cfg.shift_range + 1) + 2 * w * m
    weights += (controller.hidden_size + 1) * heads_out + (controller.hidden_size + r * m + 1) * output_size
    weights += r * m + (r + w) * n + (n * m if cfg.memory_init == "learned" else 0)
    return weights, state + r * m + (r + w) * n + m * n


def build_ntm(cfg: NTMConfig, controller: ControllerConfig, input_size: int, output_size: int) -> NTM:
    """The NTM a config describes, for a task's input and output sizes."""
    return NTM(
        input_size,
        output_size,
        **controller_arguments(controller),
        memory_n=cfg.memory_n,
        memory_m=cfg.memory_m,
        read_heads=cfg.read_heads,
        write_heads=cfg.write_heads,
        shift_range=cfg.shift_range,
        memory_init=cfg.memory_init,
        memory_init_value=cfg.memory_init_value,
    )

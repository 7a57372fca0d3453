"""The Differentiable Neural Computer: a controller, dynamic memory allocation and temporal links.

One step (Graves et al. 2016, Methods), with one write head and R read heads:

    controller([x_t, r_{t-1}])                        -> h_t
    interface(h_t), split and squashed               -> keys, gates, erase, v, read modes
    usage from w^w_{t-1}, w^r_{t-1} and free gates    -> u_t, allocation a_t
    content on M_{t-1}, a_t and the gates             -> w^w_t
    erase then write v                                -> M_t
    precedence p_{t-1} and w^w_t                      -> link matrix L_t, then p_t
    L_t w^r_{t-1}, L_t^T w^r_{t-1}, content on M_t    -> w^r_t   [batch, R, N]
    read M_t                                          -> r_t     [batch, R, W]
    output layer([h_t, r_t])                          -> logits

One function per equation of the Methods section, all batched over the batch
and the heads. Content lookup, the memory update and the read are the NTM's
(``addressing.content_weighting``, ``addressing.write`` with a single write
head, ``addressing.read``): the same equations. The recurrent state is a
``DNCState`` passed in and returned; the module keeps nothing between steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ntm_cli.checks import positive
from ntm_cli.models import addressing
from ntm_cli.models.controllers import (
    ControllerConfig,
    ControllerState,
    build_controller,
    controller_arguments,
    controller_sizes,
)
from ntm_cli.models.recurrent import Chunked, StepFn, unroll

# Every memory cell starts at this value: a small constant keeps the cosine's
# |M(i)| away from zero, where its gradient is largest (as for the NTM).
_MEMORY_INIT_VALUE = 1e-6
# Read-mode index of each weighting in pi: w^r = pi[0] b + pi[1] c + pi[2] f.
BACKWARD, CONTENT, FORWARD = 0, 1, 2


class DNCState(NamedTuple):
    """Everything the DNC carries from one step to the next.

    controller: the controller's state tuple; reads: [batch, R, W];
    memory: [batch, W, N] (location i's word is ``memory[:, :, i]``, as in the
    NTM; see ``addressing``); read_weights: [batch, R, N]; write_weights,
    usage, precedence: [batch, N]; link: [batch, N, N].
    """

    controller: ControllerState
    reads: torch.Tensor
    memory: torch.Tensor
    read_weights: torch.Tensor
    write_weights: torch.Tensor
    usage: torch.Tensor
    precedence: torch.Tensor
    link: torch.Tensor


class Interface(NamedTuple):
    """The interface vector split and squashed into its parts (shapes for R read heads, word size W)."""

    read_keys: torch.Tensor  # [batch, R, W]
    read_strengths: torch.Tensor  # [batch, R, 1], >= 1
    write_key: torch.Tensor  # [batch, 1, W]
    write_strength: torch.Tensor  # [batch, 1, 1], >= 1
    erase: torch.Tensor  # [batch, W], in [0, 1]
    write_vector: torch.Tensor  # [batch, W]
    free_gates: torch.Tensor  # [batch, R], in [0, 1]
    allocation_gate: torch.Tensor  # [batch, 1], in [0, 1]
    write_gate: torch.Tensor  # [batch, 1], in [0, 1]
    read_modes: torch.Tensor  # [batch, R, 3], each row sums to one


def interface_size(read_heads: int, word_size: int) -> int:
    """Length of the interface vector: W R + 3 W + 5 R + 3."""
    return word_size * read_heads + 3 * word_size + 5 * read_heads + 3


def oneplus(x: torch.Tensor) -> torch.Tensor:
    """oneplus(x) = 1 + log(1 + e^x), a strength >= 1. Shape is kept."""
    return 1.0 + F.softplus(x)


def split_interface(interface: torch.Tensor, read_heads: int, word_size: int) -> Interface:
    """Splits xi_t [batch, W R + 3 W + 5 R + 3] in the paper's order and applies each part's activation.

    Keys and the write vector stay raw; strengths oneplus; erase, free, allocation
    and write gates sigmoid; read modes softmax over the three modes.
    """
    batch, r, w = interface.shape[0], read_heads, word_size
    sizes = [r * w, r, w, 1, w, w, r, 1, 1, 3 * r]
    keys, strengths, write_key, write_strength, erase, vector, free, alloc, gate, modes = interface.split(sizes, -1)
    return Interface(
        read_keys=keys.view(batch, r, w),
        read_strengths=oneplus(strengths).unsqueeze(-1),
        write_key=write_key.unsqueeze(1),
        write_strength=oneplus(write_strength).unsqueeze(-1),
        erase=torch.sigmoid(erase),
        write_vector=vector,
        free_gates=torch.sigmoid(free),
        allocation_gate=torch.sigmoid(alloc),
        write_gate=torch.sigmoid(gate),
        read_modes=torch.softmax(modes.view(batch, r, 3), dim=-1),
    )


def retention(free_gates: torch.Tensor, read_weights_prev: torch.Tensor) -> torch.Tensor:
    """psi_t = prod_i (1 - f_i w^r_{t-1,i}): how much of each location the read heads let the writer keep.

    free_gates: [batch, R]; read_weights_prev: [batch, R, N] -> [batch, N].
    """
    return torch.prod(1.0 - free_gates.unsqueeze(-1) * read_weights_prev, dim=1)


def usage(usage_prev: torch.Tensor, write_weights_prev: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
    """u_t = (u_{t-1} + w^w_{t-1} - u_{t-1} w^w_{t-1}) psi_t.

    usage_prev, write_weights_prev, psi: [batch, N] -> [batch, N].
    """
    return (usage_prev + write_weights_prev - usage_prev * write_weights_prev) * psi


def allocation(usage: torch.Tensor) -> torch.Tensor:
    """a[phi_j] = (1 - u[phi_j]) prod_{i<j} u[phi_i], phi the locations sorted by usage ascending.

    The free list phi is an integer permutation (ties go to the lower index), so
    no gradient flows through it; the sorted usages carry the gradient of u.
    usage: [batch, N] -> [batch, N].
    """
    sorted_usage, phi = torch.sort(usage, dim=-1, stable=True)  # (B, N), ascending
    ones = torch.ones_like(sorted_usage[:, :1])
    # prod_{i<j} u[phi_i]: the product of the usages before position j, 1 for j = 0.
    earlier = torch.cumprod(torch.cat([ones, sorted_usage[:, :-1]], dim=-1), dim=-1)
    sorted_allocation = (1.0 - sorted_usage) * earlier
    return torch.zeros_like(sorted_allocation).scatter(-1, phi, sorted_allocation)


def write_weighting(
    allocation: torch.Tensor, content: torch.Tensor, allocation_gate: torch.Tensor, write_gate: torch.Tensor
) -> torch.Tensor:
    """w^w_t = g^w [g^a a_t + (1 - g^a) c^w_t].

    allocation, content: [batch, N]; allocation_gate, write_gate: [batch, 1] -> [batch, N].
    """
    return write_gate * (allocation_gate * allocation + (1.0 - allocation_gate) * content)


def precedence(precedence_prev: torch.Tensor, write_weights: torch.Tensor) -> torch.Tensor:
    """p_t = (1 - sum_i w^w_t[i]) p_{t-1} + w^w_t.

    precedence_prev, write_weights: [batch, N] -> [batch, N].
    """
    return (1.0 - write_weights.sum(-1, keepdim=True)) * precedence_prev + write_weights


def link_matrix(link_prev: torch.Tensor, write_weights: torch.Tensor, precedence_prev: torch.Tensor) -> torch.Tensor:
    """L_t[i, j] = (1 - w^w[i] - w^w[j]) L_{t-1}[i, j] + w^w[i] p_{t-1}[j], with L_t[i, i] = 0.

    L[i, j] is how much location i was written right after location j.
    link_prev: [batch, N, N]; write_weights, precedence_prev: [batch, N] -> [batch, N, N].
    """
    w_i, w_j = write_weights.unsqueeze(-1), write_weights.unsqueeze(-2)  # (B, N, 1), (B, 1, N)
    link = (1.0 - w_i - w_j) * link_prev + w_i * precedence_prev.unsqueeze(-2)
    link.diagonal(dim1=-2, dim2=-1).zero_()  # in place: N numbers, where a mask would be another N x N pass
    return link


def directional_weightings(link: torch.Tensor, read_weights_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward f_t = L_t w^r_{t-1} and backward b_t = L_t^T w^r_{t-1}, for every read head.

    link: [batch, N, N]; read_weights_prev: [batch, R, N] -> (forward, backward), each [batch, R, N].
    """
    forward = torch.matmul(read_weights_prev, link.transpose(1, 2))  # f[r, i] = sum_j L[i, j] w[r, j]
    backward = torch.matmul(read_weights_prev, link)  # b[r, i] = sum_j L[j, i] w[r, j]
    return forward, backward


def read_weighting(
    backward: torch.Tensor, content: torch.Tensor, forward: torch.Tensor, read_modes: torch.Tensor
) -> torch.Tensor:
    """w^r_t = pi[0] b_t + pi[1] c^r_t + pi[2] f_t (pi indices BACKWARD, CONTENT, FORWARD).

    backward, content, forward: [batch, R, N]; read_modes pi: [batch, R, 3] -> [batch, R, N].
    """
    pi = read_modes.unsqueeze(-1)  # (B, R, 3, 1)
    return pi[:, :, BACKWARD] * backward + pi[:, :, CONTENT] * content + pi[:, :, FORWARD] * forward


class DNC(nn.Module):
    """Differentiable Neural Computer with one write head and ``read_heads`` read heads."""

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
    ) -> None:
        super().__init__()
        self.memory_n, self.memory_m, self.read_heads = memory_n, memory_m, read_heads
        self.controller = build_controller(
            controller, input_size + read_heads * memory_m, hidden_size, controller_layers
        )
        self.interface = nn.Linear(hidden_size, interface_size(read_heads, memory_m))
        self.output = nn.Linear(hidden_size + read_heads * memory_m, output_size)
        self.initial_reads = nn.Parameter(0.01 * torch.randn(read_heads, memory_m))

    def initial_state(self, batch_size: int, generator: torch.Generator | None = None) -> DNCState:
        """The state every episode starts from.

        Learned read vectors and the controller's initial state; memory filled
        with 1e-6; usage, precedence, links and every weighting zero. Nothing is
        random: ``generator`` is accepted for the NTM's signature and unused.
        """
        n, w, r = self.memory_n, self.memory_m, self.read_heads
        zeros = self.initial_reads.new_zeros
        return DNCState(
            controller=self.controller.initial_state(batch_size),
            reads=self.initial_reads.expand(batch_size, -1, -1),
            memory=self.initial_reads.new_full((batch_size, w, n), _MEMORY_INIT_VALUE),
            read_weights=zeros(batch_size, r, n),
            write_weights=zeros(batch_size, n),
            usage=zeros(batch_size, n),
            precedence=zeros(batch_size, n),
            link=zeros(batch_size, n, n),
        )

    def step(self, x: torch.Tensor, state: DNCState) -> tuple[torch.Tensor, DNCState]:
        """One time step. x: [batch, input] -> (features [batch, hidden + R W], state)."""
        h, controller_state = self.controller(torch.cat([x, state.reads.flatten(1)], dim=-1), state.controller)
        xi = split_interface(self.interface(h), self.read_heads, self.memory_m)

        # Write: content on M_{t-1}, usage, allocation, write weighting, then the memory update.
        write_content = addressing.content_weighting(xi.write_key, xi.write_strength, state.memory).squeeze(1)
        psi = retention(xi.free_gates, state.read_weights)
        u = usage(state.usage, state.write_weights, psi)
        w_write = write_weighting(allocation(u), write_content, xi.allocation_gate, xi.write_gate)  # (B, N)
        memory = addressing.write(
            state.memory, w_write.unsqueeze(1), xi.erase.unsqueeze(1), xi.write_vector.unsqueeze(1)
        )

        # Temporal links use the precedence before this write.
        link = link_matrix(state.link, w_write, state.precedence)
        p = precedence(state.precedence, w_write)

        # Read on M_t.
        forward, backward = directional_weightings(link, state.read_weights)
        read_content = addressing.content_weighting(xi.read_keys, xi.read_strengths, memory)
        w_read = read_weighting(backward, read_content, forward, xi.read_modes)
        reads = addressing.read(memory, w_read)

        features = torch.cat([h, reads.flatten(1)], dim=-1)
        return features, DNCState(controller_state, reads, memory, w_read, w_write, u, p, link)

    def forward(
        self,
        inputs: torch.Tensor,
        state: DNCState | None = None,
        step: StepFn | Chunked | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, DNCState]:
        """Runs a whole sequence. inputs: [time, batch, input] -> (logits [time, batch, output], state).

        ``step`` replaces ``self.step`` for every time step, e.g. a
        ``torch.compile``d version of it (the training loop's ``train.compile``),
        or is a ``Chunked`` one that runs several time steps per call.
        ``lengths`` [batch] (CPU): the steps each sequence uses; none is computed past its end.
        """
        if state is None:
            state = self.initial_state(inputs.shape[1])
        return unroll(step or self.step, inputs, state, self.output, lengths)


@dataclass
class DNCConfig:
    """The DNC's memory and read heads (model=dnc); it has one write head.

    Attributes:
        name: the model option
        memory_n: memory locations N
        memory_m: numbers per location W
        read_heads: read heads R
    """

    name: str = "dnc"
    memory_n: int = 128
    memory_m: int = 20
    read_heads: int = 1

    def problems(self) -> list[str]:
        return positive(self, "model")


def dnc_sizes(cfg: DNCConfig, controller: ControllerConfig, input_size: int, output_size: int) -> tuple[int, int]:
    """(parameters, state floats per sequence) of the DNC ``cfg`` describes, without building it."""
    n, w, r = cfg.memory_n, cfg.memory_m, cfg.read_heads
    weights, state = controller_sizes(controller, input_size + r * w)
    weights += (controller.hidden_size + 1) * interface_size(r, w) + (controller.hidden_size + r * w + 1) * output_size
    return weights + r * w, state + r * w + w * n + r * n + 3 * n + n * n


def build_dnc(cfg: DNCConfig, controller: ControllerConfig, input_size: int, output_size: int) -> DNC:
    """The DNC a config describes, for a task's input and output sizes."""
    return DNC(
        input_size,
        output_size,
        **controller_arguments(controller),
        memory_n=cfg.memory_n,
        memory_m=cfg.memory_m,
        read_heads=cfg.read_heads,
    )

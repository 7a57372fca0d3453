"""The Neural Turing Machine's memory equations (Graves et al. 2014, section 3).

One function per equation. Every function is batched over the batch and over
the heads: a weighting has shape ``[batch, heads, N]`` and memory has shape
``[batch, N, M]`` (N locations of width M). No function keeps state.

The sums over locations and over the word are written as broadcast products
and ``sum``, not as batched matrix products: the matrices are tiny (one row
per head), and ``torch.compile`` fuses a product and a sum with the
operations around them into one loop, where a matrix product is a call of its
own in the forward pass and two in the backward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Guards the cosine denominator against an all-zero key or memory row.
_COSINE_EPSILON = 1e-8
# Guards the logarithm in sharpening against weights that are exactly zero.
_SHARPEN_EPSILON = 1e-16


def cosine_similarity(keys: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """K(k, M(i)) = k . M(i) / (|k| |M(i)|), eq. (6).

    keys: [batch, heads, M]; memory: [batch, N, M] -> [batch, heads, N].
    """
    dot = (keys.unsqueeze(2) * memory.unsqueeze(1)).sum(-1)  # (B, H, N, M) -> (B, H, N)
    key_norm = keys.norm(dim=-1, keepdim=True)  # (B, H, 1)
    memory_norm = memory.norm(dim=-1).unsqueeze(1)  # (B, 1, N)
    return dot / (key_norm * memory_norm + _COSINE_EPSILON)


def content_weighting(keys: torch.Tensor, beta: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """w_c(i) = softmax_i(beta K(k, M(i))), eq. (5).

    keys: [batch, heads, M]; beta: [batch, heads, 1], beta > 0;
    memory: [batch, N, M] -> [batch, heads, N].
    """
    return torch.softmax(beta * cosine_similarity(keys, memory), dim=-1)


def interpolate(w_content: torch.Tensor, w_prev: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """w_g = g w_c + (1 - g) w_prev, eq. (7).

    w_content, w_prev: [batch, heads, N]; gate: [batch, heads, 1] in [0, 1].
    """
    return gate * w_content + (1.0 - gate) * w_prev


def circular_shift(w: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """w~(i) = sum_j w_g(j) s(i - j), the circular convolution of eq. (8).

    w: [batch, heads, N]; shift: [batch, heads, S], a distribution over the
    S = 2 r + 1 <= N integer shifts -r..r (entry k is the shift k - r). A one-hot
    shift at +1 moves every weight one location forward, like ``torch.roll``.
    Returns [batch, heads, N].
    """
    radius = (shift.shape[-1] - 1) // 2
    # Shift d = k - r moves w by d: roll(w, d)(i) = w(i - d), weighted by s(d).
    out = shift[..., radius : radius + 1] * w
    for k in range(shift.shape[-1]):
        if k != radius:
            out = out + shift[..., k : k + 1] * torch.roll(w, k - radius, dims=-1)
    return out


def sharpen(w: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """w(i) = w~(i)^gamma / sum_j w~(j)^gamma, eq. (9).

    Computed as softmax(gamma log w~), which is the same quantity without
    overflow. w: [batch, heads, N]; gamma: [batch, heads, 1], gamma >= 1.
    """
    return torch.softmax(gamma * torch.log(w + _SHARPEN_EPSILON), dim=-1)


def address(
    keys: torch.Tensor,
    beta: torch.Tensor,
    gate: torch.Tensor,
    shift: torch.Tensor,
    gamma: torch.Tensor,
    w_prev: torch.Tensor,
    memory: torch.Tensor,
) -> torch.Tensor:
    """The whole addressing pipeline of Figure 2, for all heads at once.

    keys: [batch, heads, M]; beta, gate, gamma: [batch, heads, 1];
    shift: [batch, heads, S]; w_prev: [batch, heads, N]; memory: [batch, N, M].
    Returns the new weightings [batch, heads, N].
    """
    w = content_weighting(keys, beta, memory)
    w = interpolate(w, w_prev, gate)
    w = circular_shift(w, shift)
    return sharpen(w, gamma)


def read(memory: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """r = sum_i w(i) M(i), eq. (2).

    memory: [batch, N, M]; w: [batch, heads, N] -> [batch, heads, M].
    """
    return (w.unsqueeze(-1) * memory.unsqueeze(1)).sum(2)  # (B, H, N, M) -> (B, H, M)


def write(memory: torch.Tensor, w: torch.Tensor, erase: torch.Tensor, add: torch.Tensor) -> torch.Tensor:
    """Erase then add, eqs. (3) and (4), for every write head at once.

    M~(i) = M(i) prod_h [1 - w_h(i) e_h];  M(i) = M~(i) + sum_h w_h(i) a_h.
    memory: [batch, N, M]; w: [batch, heads, N]; erase (in [0, 1]) and add:
    [batch, heads, M]. Returns the new memory [batch, N, M].
    """
    if w.shape[1] == 1:
        wt = w.transpose(1, 2)  # (B, N, 1)
        return memory * (1.0 - wt * erase) + wt * add  # (B, N, 1) * (B, 1, M) -> (B, N, M)
    w = w.unsqueeze(-1)  # (B, H, N, 1)
    keep = torch.prod(1.0 - w * erase.unsqueeze(-2), dim=1)  # (B, N, M)
    return memory * keep + (w * add.unsqueeze(-2)).sum(1)


def head_activations(
    raw_key: torch.Tensor,
    raw_beta: torch.Tensor,
    raw_gate: torch.Tensor,
    raw_shift: torch.Tensor,
    raw_gamma: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Maps raw controller outputs to the ranges the equations need.

    key: tanh; beta = softplus > 0; g = sigmoid in [0, 1]; s = softmax over the
    shifts; gamma = 1 + softplus >= 1. Shapes are kept.
    """
    return (
        torch.tanh(raw_key),
        F.softplus(raw_beta),
        torch.sigmoid(raw_gate),
        torch.softmax(raw_shift, dim=-1),
        1.0 + F.softplus(raw_gamma),
    )

"""The Neural Turing Machine's memory equations (Graves et al. 2014, section 3).

One function per equation. Every function is batched over the batch and over
the heads: a weighting has shape ``[batch, heads, N]`` and memory has shape
``[batch, M, N]``: N locations of width M, stored one word component after
another, so that location i's word is ``memory[:, :, i]``. The paper writes
M(i) for that word; the equations below do too.

Why M before N: every loop over memory then runs along the N locations
(128 in the paper), which the CPU's vector units take 16 at a time, and not
along a word of M = 20, which leaves a masked tail of 4 and needs one
horizontal sum per location (docs/speed.md has the measurement).

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
# The squared norm's floor: the square root's gradient stays finite (and zero) at an all-zero vector.
_NORM_FLOOR = 1e-30
# Guards the logarithm in sharpening against weights that are exactly zero.
_SHARPEN_EPSILON = 1e-16


def euclidean_norm(x: torch.Tensor, dim: int) -> torch.Tensor:
    """|x| along ``dim`` (kept as a dimension of size 1), with a zero gradient where x is all zero.

    As a sum of squares: torch's norm over memory's strided word dimension is many times slower when eager.
    """
    return x.square().sum(dim, keepdim=True).clamp_min(_NORM_FLOOR).sqrt()


def cosine_similarity(keys: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """K(k, M(i)) = k . M(i) / (|k| |M(i)|), eq. (6).

    keys: [batch, heads, M]; memory: [batch, M, N] -> [batch, heads, N].
    """
    dot = (keys.unsqueeze(-1) * memory.unsqueeze(1)).sum(2)  # (B, H, M, N) -> (B, H, N)
    key_norm = euclidean_norm(keys, -1)  # (B, H, 1)
    memory_norm = euclidean_norm(memory, 1)  # (B, 1, N)
    return dot / (key_norm * memory_norm + _COSINE_EPSILON)


def content_weighting(keys: torch.Tensor, beta: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """w_c(i) = softmax_i(beta K(k, M(i))), eq. (5).

    keys: [batch, heads, M]; beta: [batch, heads, 1], beta > 0;
    memory: [batch, M, N] -> [batch, heads, N].
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

    Computed on a wrapped copy [w(N-r) .. w(N-1), w(0) .. w(N-1), w(0) .. w(r-1)],
    where w(i - d) for every i is one contiguous slice: compiled, a slice is a
    plain vector load, where ``torch.roll``'s index arithmetic is a gather.
    """
    radius = (shift.shape[-1] - 1) // 2
    n = w.shape[-1]
    wrapped = torch.cat([w[..., n - radius :], w, w[..., :radius]], dim=-1)  # (B, H, N + 2 r)
    # Shift d = k - r takes w(i - d) = wrapped(i - d + r) = wrapped(i + 2 r - k), weighted by s(d).
    out = shift[..., :1] * wrapped[..., 2 * radius : 2 * radius + n]
    for k in range(1, shift.shape[-1]):
        out = out + shift[..., k : k + 1] * wrapped[..., 2 * radius - k : 2 * radius - k + n]
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
    shift: [batch, heads, S]; w_prev: [batch, heads, N]; memory: [batch, M, N].
    Returns the new weightings [batch, heads, N].
    """
    w = content_weighting(keys, beta, memory)
    w = interpolate(w, w_prev, gate)
    w = circular_shift(w, shift)
    return sharpen(w, gamma)


def read(memory: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """r = sum_i w(i) M(i), eq. (2).

    memory: [batch, M, N]; w: [batch, heads, N] -> [batch, heads, M].
    """
    return (w.unsqueeze(2) * memory.unsqueeze(1)).sum(-1)  # (B, H, M, N) -> (B, H, M)


def write(memory: torch.Tensor, w: torch.Tensor, erase: torch.Tensor, add: torch.Tensor) -> torch.Tensor:
    """Erase then add, eqs. (3) and (4), for every write head at once.

    M~(i) = M(i) prod_h [1 - w_h(i) e_h];  M(i) = M~(i) + sum_h w_h(i) a_h.
    memory: [batch, M, N]; w: [batch, heads, N]; erase (in [0, 1]) and add:
    [batch, heads, M]. Returns the new memory [batch, M, N].
    """
    if w.shape[1] == 1:
        e, a = erase.transpose(1, 2), add.transpose(1, 2)  # (B, M, 1)
        return memory * (1.0 - e * w) + a * w  # (B, M, 1) * (B, 1, N) -> (B, M, N)
    w = w.unsqueeze(2)  # (B, H, 1, N)
    keep = torch.prod(1.0 - erase.unsqueeze(-1) * w, dim=1)  # (B, H, M, N) -> (B, M, N)
    return memory * keep + (add.unsqueeze(-1) * w).sum(1)


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

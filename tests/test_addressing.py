"""Tests of the NTM memory equations in ``ntm_cli.models.addressing``.

Expected values are worked out by hand (the arithmetic is in the comments),
not by re-running the implementation's formula.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ntm_cli.models import addressing as A

B, H, N, M = 3, 2, 16, 4  # sizes of the random property tests


def t(values, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def rows(values) -> torch.Tensor:
    """Memory written one row per location, [batch, N, M], as the functions take it: [batch, M, N]."""
    return t(values).mT


def random_distribution(*shape: int, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    return torch.softmax(3.0 * torch.randn(*shape, generator=generator, dtype=dtype), dim=-1)


def assert_distribution(w: torch.Tensor) -> None:
    assert not torch.isnan(w).any()
    assert (w >= 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1], dtype=w.dtype), atol=1e-5, rtol=0)


# ---------------------------------------------------------------- cosine_similarity


def test_cosine_similarity_hand_values():
    """Cosine similarity of two keys with four memory rows, including an all-zero row (0, not NaN)."""
    # Memory rows: (1, 0), (0, 2), (3, 4), (0, 0); |rows| = 1, 2, 5, 0.
    memory = rows([[[1.0, 0.0], [0.0, 2.0], [3.0, 4.0], [0.0, 0.0]]])
    # Key (1, 0): dots 1, 0, 3, 0 -> 1/1, 0/2, 3/5, 0.
    # Key (1, 1), |k| = sqrt 2: dots 1, 2, 7, 0 -> 1/sqrt2, 2/(2 sqrt2), 7/(5 sqrt2), 0.
    keys = t([[[1.0, 0.0], [1.0, 1.0]]])
    s2 = math.sqrt(2.0)
    expected = t([[[1.0, 0.0, 0.6, 0.0], [1 / s2, 1 / s2, 7 / (5 * s2), 0.0]]])
    out = A.cosine_similarity(keys, memory)
    assert out.shape == (1, 2, 4)
    assert not torch.isnan(out).any()
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_euclidean_norm_hand_values_and_a_zero_gradient_at_zero():
    x = torch.tensor([[[3.0, 0.0], [4.0, 0.0]]], dtype=torch.float64, requires_grad=True)  # columns (3, 4) and (0, 0)
    norm = A.euclidean_norm(x, 1)
    assert norm.shape == (1, 1, 2) and torch.allclose(norm, torch.tensor([[[5.0, 1e-15]]], dtype=torch.float64))
    norm.sum().backward()  # d|x|/dx = x / |x|; 0 at the all-zero column, where torch.sqrt alone gives nan
    assert torch.allclose(x.grad, torch.tensor([[[0.6, 0.0], [0.8, 0.0]]], dtype=torch.float64), rtol=0, atol=1e-15)
    assert torch.equal(x.grad[..., 1], torch.zeros(1, 2, dtype=torch.float64))


def test_cosine_similarity_is_scale_invariant_and_signed():
    """Scaling a row does not change its similarity; an opposite row gives -1."""
    memory = rows([[[2.0, 0.0], [-5.0, 0.0], [0.0, 7.0]]])
    keys = t([[[3.0, 0.0]]])
    torch.testing.assert_close(A.cosine_similarity(keys, memory), t([[[1.0, -1.0, 0.0]]]), atol=1e-6, rtol=0)


# ---------------------------------------------------------------- content_weighting


def test_content_weighting_hand_softmax():
    """w_c = softmax(beta K) for memory 1x3x2, key (1, 0) and beta 2."""
    # Rows (1, 0), (0, 1), (-1, 0): cosines with (1, 0) are 1, 0, -1; beta K = 2, 0, -2.
    memory = rows([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])
    keys = t([[[1.0, 0.0]]])
    beta = t([[[2.0]]])
    z = math.exp(2) + math.exp(0) + math.exp(-2)
    expected = t([[[math.exp(2) / z, math.exp(0) / z, math.exp(-2) / z]]])
    torch.testing.assert_close(A.content_weighting(keys, beta, memory), expected, atol=1e-6, rtol=0)


def test_content_weighting_larger_beta_is_sharper():
    """A larger beta puts more weight on the best-matching row; beta near 0 is nearly uniform."""
    memory = rows([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])
    keys = t([[[1.0, 0.0]]])
    w_small = A.content_weighting(keys, t([[[1e-6]]]), memory)
    w_mid = A.content_weighting(keys, t([[[2.0]]]), memory)
    w_big = A.content_weighting(keys, t([[[20.0]]]), memory)
    torch.testing.assert_close(w_small, torch.full((1, 1, 3), 1 / 3), atol=1e-5, rtol=0)
    assert w_small[0, 0, 0] < w_mid[0, 0, 0] < w_big[0, 0, 0]
    assert w_big[0, 0, 0] > 0.999
    assert w_big.argmax(-1).item() == 0


def test_content_weighting_uses_each_heads_own_beta():
    """Beta is per head: the same key with beta 0.5 and 2 gives the two hand softmaxes."""
    memory = rows([[[1.0, 0.0], [0.0, 1.0]]])  # cosines with (1, 0): 1, 0
    keys = t([[[1.0, 0.0], [1.0, 0.0]]])
    beta = t([[[0.5], [2.0]]])
    # softmax(0.5, 0) = (e^.5, 1) / (e^.5 + 1); softmax(2, 0) = (e^2, 1) / (e^2 + 1).
    expected = t(
        [
            [
                [math.exp(0.5) / (math.exp(0.5) + 1), 1 / (math.exp(0.5) + 1)],
                [math.exp(2) / (math.exp(2) + 1), 1 / (math.exp(2) + 1)],
            ]
        ]
    )
    torch.testing.assert_close(A.content_weighting(keys, beta, memory), expected, atol=1e-6, rtol=0)


# ---------------------------------------------------------------- interpolate

W_CONTENT = t([[[0.7, 0.2, 0.1]]])
W_PREV = t([[[0.0, 0.0, 1.0]]])


def test_interpolate_gate_zero_keeps_previous():
    """g = 0 returns w_prev."""
    torch.testing.assert_close(A.interpolate(W_CONTENT, W_PREV, t([[[0.0]]])), W_PREV)


def test_interpolate_gate_one_takes_content():
    """g = 1 returns w_content."""
    torch.testing.assert_close(A.interpolate(W_CONTENT, W_PREV, t([[[1.0]]])), W_CONTENT)


def test_interpolate_quarter_gate_hand_value():
    """g = 0.25: 0.25 w_c + 0.75 w_prev."""
    # 0.25 * (0.7, 0.2, 0.1) + 0.75 * (0, 0, 1) = (0.175, 0.05, 0.025 + 0.75)
    expected = t([[[0.175, 0.05, 0.775]]])
    torch.testing.assert_close(A.interpolate(W_CONTENT, W_PREV, t([[[0.25]]])), expected, atol=1e-7, rtol=0)


# ---------------------------------------------------------------- circular_shift


def one_hot_shift(index: int, size: int) -> torch.Tensor:
    s = torch.zeros(1, 1, size)
    s[..., index] = 1.0
    return s


@pytest.mark.parametrize("k", [-1, 0, 1])
def test_circular_shift_one_hot_equals_roll(k):
    """A one-hot shift at k in {-1, 0, +1} moves the weighting like torch.roll(w, k)."""
    w = t([[[0.1, 0.2, 0.3, 0.4, 0.0]]])
    shift = one_hot_shift(k + 1, 3)  # entry j is the shift j - 1
    torch.testing.assert_close(A.circular_shift(w, shift), torch.roll(w, k, dims=-1))


def test_circular_shift_mixed_hand_value_with_wraparound():
    """N = 4, s(-1, 0, +1) = (0.2, 0.5, 0.3): w~(i) = 0.5 w(i) + 0.3 w(i-1) + 0.2 w(i+1), indices mod 4."""
    w = t([[[0.1, 0.2, 0.3, 0.4]]])
    shift = t([[[0.2, 0.5, 0.3]]])
    # i=0: 0.5*0.1 + 0.3*w(3)=0.3*0.4 + 0.2*w(1)=0.2*0.2 = 0.05 + 0.12 + 0.04 = 0.21
    # i=1: 0.5*0.2 + 0.3*0.1 + 0.2*0.3 = 0.10 + 0.03 + 0.06 = 0.19
    # i=2: 0.5*0.3 + 0.3*0.2 + 0.2*0.4 = 0.15 + 0.06 + 0.08 = 0.29
    # i=3: 0.5*0.4 + 0.3*0.3 + 0.2*w(0)=0.2*0.1 = 0.20 + 0.09 + 0.02 = 0.31
    expected = t([[[0.21, 0.19, 0.29, 0.31]]])
    torch.testing.assert_close(A.circular_shift(w, shift), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("k", [-2, -1, 0, 1, 2])
def test_circular_shift_range_two_one_hot_equals_roll(k):
    """shift_range 2 (S = 5) on N = 6: a one-hot shift at k equals torch.roll(w, k)."""
    w = t([[[0.05, 0.1, 0.15, 0.2, 0.25, 0.25]]])
    shift = one_hot_shift(k + 2, 5)  # entry j is the shift j - 2
    torch.testing.assert_close(A.circular_shift(w, shift), torch.roll(w, k, dims=-1))


def test_circular_shift_radius_zero_is_identity():
    """S = 1 (radius 0): the only shift is 0, so a normalised shift returns w unchanged."""
    w = t([[[0.1, 0.6, 0.3]]])
    torch.testing.assert_close(A.circular_shift(w, t([[[1.0]]])), w)


def test_circular_shift_per_batch_and_head():
    """Each batch row and head applies its own shift."""
    w = t([[0.1, 0.2, 0.3, 0.4]]).expand(2, 2, 4)
    shift = torch.zeros(2, 2, 3)
    shift[0, 0, 0] = 1.0  # -1
    shift[0, 1, 1] = 1.0  # 0
    shift[1, 0, 2] = 1.0  # +1
    shift[1, 1, 0] = 1.0  # -1
    out = A.circular_shift(w, shift)
    base = t([0.1, 0.2, 0.3, 0.4])
    torch.testing.assert_close(out[0, 0], t([0.2, 0.3, 0.4, 0.1]))
    torch.testing.assert_close(out[0, 1], base)
    torch.testing.assert_close(out[1, 0], t([0.4, 0.1, 0.2, 0.3]))
    torch.testing.assert_close(out[1, 1], t([0.2, 0.3, 0.4, 0.1]))


def test_the_ntm_refuses_more_shifts_than_locations():
    """circular_shift needs S = 2 r + 1 <= N (more shifts would alias); the NTM checks it up front."""
    from ntm_cli.models.ntm import NTM

    with pytest.raises(ValueError, match="shift_range"):
        NTM(3, 2, memory_n=2, shift_range=3)
    NTM(3, 2, memory_n=7, shift_range=3)  # S = 7 = N is fine


# ---------------------------------------------------------------- sharpen


def test_sharpen_gamma_one_is_identity():
    """gamma = 1 leaves a normalised weighting unchanged."""
    w = t([[[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]])
    torch.testing.assert_close(A.sharpen(w, torch.ones(1, 2, 1)), w, atol=1e-6, rtol=0)


def test_sharpen_gamma_two_hand_value():
    """gamma = 2 on (0.5, 0.3, 0.2) gives (0.25, 0.09, 0.04) / 0.38."""
    w = t([[[0.5, 0.3, 0.2]]])
    # squares: 0.25, 0.09, 0.04; sum 0.38
    expected = t([[[0.25 / 0.38, 0.09 / 0.38, 0.04 / 0.38]]])
    torch.testing.assert_close(A.sharpen(w, t([[[2.0]]])), expected, atol=1e-6, rtol=0)


def test_sharpen_zeros_give_no_nan_value_or_gradient():
    """Exact zeros in w give finite output (zero there) and finite gradients for w and gamma."""
    w = t([[[0.6, 0.4, 0.0, 0.0]]]).requires_grad_()
    gamma = t([[[2.0]]]).requires_grad_()
    out = A.sharpen(w, gamma)
    # squares 0.36, 0.16, 0, 0; sum 0.52
    torch.testing.assert_close(out.detach(), t([[[0.36 / 0.52, 0.16 / 0.52, 0.0, 0.0]]]), atol=1e-6, rtol=0)
    (out * t([[[1.0, 2.0, 3.0, 4.0]]])).sum().backward()
    assert torch.isfinite(w.grad).all()
    assert torch.isfinite(gamma.grad).all()


def test_address_hand_value():
    """The whole pipeline by hand: content, gate 0.5, shift +1, gamma 2."""
    memory = rows([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])
    keys = t([[[1.0, 0.0]]])
    # cosines 1, 0, -1; beta = ln 2: exp(beta K) = 2, 1, 1/2; sum 3.5 -> w_c = (4/7, 2/7, 1/7)
    beta = t([[[math.log(2.0)]]])
    # gate 0.5 with w_prev (0, 0, 1): (2/7, 1/7, 1/14 + 1/2 = 4/7)
    w_prev = t([[[0.0, 0.0, 1.0]]])
    gate = t([[[0.5]]])
    # one-hot shift +1 rolls forward: (4/7, 2/7, 1/7)
    shift = t([[[0.0, 0.0, 1.0]]])
    # gamma 2: squares 16, 4, 1 (over 49); normalised: (16/21, 4/21, 1/21)
    gamma = t([[[2.0]]])
    expected = t([[[16 / 21, 4 / 21, 1 / 21]]])
    out = A.address(keys, beta, gate, shift, gamma, w_prev, memory)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


# ---------------------------------------------------------------- read

MEMORY_3x2 = rows([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])


def test_read_hand_value():
    """r = sum_i w(i) M(i) for two read heads."""
    w = t([[[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]]])
    # head 0: 0.5*(1,2) + 0.25*(3,4) + 0.25*(5,6) = (0.5+0.75+1.25, 1+1+1.5) = (2.5, 3.5)
    # head 1: row 2 = (5, 6)
    expected = t([[[2.5, 3.5], [5.0, 6.0]]])
    torch.testing.assert_close(A.read(MEMORY_3x2, w), expected)


# ---------------------------------------------------------------- write


def test_write_one_head_erase_then_add():
    """One write head: M(i) (1 - w(i) e) + w(i) a, by hand."""
    w = t([[[1.0, 0.5, 0.0]]])
    erase = t([[[1.0, 0.5]]])
    add = t([[[10.0, 20.0]]])
    # keep = 1 - w(i) e: row0 (0, 0.5), row1 (0.5, 0.75), row2 (1, 1)
    # erased: row0 (0, 1), row1 (1.5, 3), row2 (5, 6)
    # + w(i) a: row0 (10, 20), row1 (5, 10), row2 (0, 0)
    expected = t([[[10.0, 21.0], [6.5, 13.0], [5.0, 6.0]]])
    torch.testing.assert_close(A.write(MEMORY_3x2, w, erase, add).mT, expected)


def test_write_two_heads_erase_product_then_add_sum():
    """Two write heads: M(i) prod_h (1 - w_h(i) e_h) + sum_h w_h(i) a_h, by hand."""
    w = t([[[1.0, 0.5, 0.0], [0.0, 0.5, 1.0]]])
    erase = t([[[1.0, 0.5], [0.5, 1.0]]])
    add = t([[[10.0, 20.0], [-1.0, 2.0]]])
    # keep_1 = 1 - w_1 e_1: row0 (0, 0.5), row1 (0.5, 0.75), row2 (1, 1)
    # keep_2 = 1 - w_2 e_2: row0 (1, 1),   row1 (0.75, 0.5), row2 (0.5, 0)
    # product:              row0 (0, 0.5), row1 (0.375, 0.375), row2 (0.5, 0)
    # erased M:             row0 (0, 1),   row1 (1.125, 1.5),   row2 (2.5, 0)
    # w_1 a_1:              row0 (10, 20), row1 (5, 10),        row2 (0, 0)
    # w_2 a_2:              row0 (0, 0),   row1 (-0.5, 1),      row2 (-1, 2)
    expected = t([[[10.0, 21.0], [5.625, 12.5], [1.5, 2.0]]])
    torch.testing.assert_close(A.write(MEMORY_3x2, w, erase, add).mT, expected)
    # Both heads erase before either adds, so the head order does not matter.
    swapped = A.write(MEMORY_3x2, w.flip(1), erase.flip(1), add.flip(1))
    torch.testing.assert_close(swapped.mT, expected)


def test_write_then_read_round_trip():
    """Writing a with a one-hot weighting and erase 1, then reading there, returns a; other rows are kept."""
    memory = torch.full((1, 3, 4), 0.3)  # [batch, M, N]
    w = t([[[0.0, 0.0, 1.0, 0.0]]])
    a = t([[[0.5, -0.25, 0.75]]])
    new_memory = A.write(memory, w, torch.ones(1, 1, 3), a)
    torch.testing.assert_close(A.read(new_memory, w), a)
    torch.testing.assert_close(new_memory[:, :, [0, 1, 3]], torch.full((1, 3, 3), 0.3))


# ---------------------------------------------------------------- head_activations


def test_head_activations_hand_values_at_zero():
    """At raw 0: key tanh 0 = 0, beta ln 2, g 0.5, shift uniform 1/S, gamma 1 + ln 2."""
    key, beta, gate, shift, gamma = A.head_activations(
        torch.zeros(1, 2, 3), torch.zeros(1, 2, 1), torch.zeros(1, 2, 1), torch.zeros(1, 2, 5), torch.zeros(1, 2, 1)
    )
    torch.testing.assert_close(key, torch.zeros(1, 2, 3))
    torch.testing.assert_close(beta, torch.full((1, 2, 1), math.log(2.0)))
    torch.testing.assert_close(gate, torch.full((1, 2, 1), 0.5))
    torch.testing.assert_close(shift, torch.full((1, 2, 5), 0.2))
    torch.testing.assert_close(gamma, torch.full((1, 2, 1), 1.0 + math.log(2.0)))


def test_head_activations_ranges():
    """Over random raw values: beta > 0, g in [0, 1], shift sums to 1, gamma >= 1, key in [-1, 1]."""
    g = torch.Generator().manual_seed(0)
    shapes = [(B, H, M), (B, H, 1), (B, H, 1), (B, H, 3), (B, H, 1)]
    raw = [8.0 * torch.randn(*s, generator=g) for s in shapes]
    key, beta, gate, shift, gamma = A.head_activations(*raw)
    for out, s in zip((key, beta, gate, shift, gamma), shapes, strict=True):
        assert out.shape == s
    assert (key.abs() <= 1).all()
    assert (beta > 0).all()
    assert ((gate >= 0) & (gate <= 1)).all()
    assert_distribution(shift)
    assert (gamma >= 1).all()


# ---------------------------------------------------------------- properties over random inputs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_weighting_is_a_distribution(seed):
    """content_weighting, interpolate, circular_shift (S = 3, 5), sharpen and address give distributions over N."""
    g = torch.Generator().manual_seed(seed)
    memory = torch.randn(B, M, N, generator=g)
    keys = torch.randn(B, H, M, generator=g)
    beta = 10.0 * torch.rand(B, H, 1, generator=g) + 1e-3
    gate = torch.rand(B, H, 1, generator=g)
    gamma = 1.0 + 10.0 * torch.rand(B, H, 1, generator=g)
    w_a = random_distribution(B, H, N, generator=g)
    w_b = random_distribution(B, H, N, generator=g)

    assert_distribution(A.content_weighting(keys, beta, memory))
    assert_distribution(A.interpolate(w_a, w_b, gate))
    for shifts in (3, 5):
        assert_distribution(A.circular_shift(w_a, random_distribution(B, H, shifts, generator=g)))
    assert_distribution(A.sharpen(w_a, gamma))
    shift = random_distribution(B, H, 3, generator=g)
    out = A.address(keys, beta, gate, shift, gamma, w_b, memory)
    assert out.shape == (B, H, N)
    assert_distribution(out)


# ---------------------------------------------------------------- gradchecks


def test_address_gradcheck():
    """float64 gradcheck of the whole addressing pipeline w.r.t. every input."""
    g = torch.Generator().manual_seed(0)
    b, h, n, m, s = 2, 2, 5, 3, 3
    d = torch.float64
    keys = torch.randn(b, h, m, generator=g, dtype=d)
    beta = F.softplus(torch.randn(b, h, 1, generator=g, dtype=d)) + 0.1
    gate = torch.sigmoid(torch.randn(b, h, 1, generator=g, dtype=d))
    shift = torch.softmax(torch.randn(b, h, s, generator=g, dtype=d), dim=-1)
    gamma = 1.0 + F.softplus(torch.randn(b, h, 1, generator=g, dtype=d))
    w_prev = torch.softmax(torch.randn(b, h, n, generator=g, dtype=d), dim=-1)
    memory = torch.randn(b, m, n, generator=g, dtype=d)
    inputs = tuple(x.requires_grad_() for x in (keys, beta, gate, shift, gamma, w_prev, memory))
    assert torch.autograd.gradcheck(A.address, inputs)


@pytest.mark.parametrize("heads", [1, 2])
def test_write_gradcheck(heads):
    """float64 gradcheck of write w.r.t. memory, weights, erase and add, for one and two write heads."""
    g = torch.Generator().manual_seed(heads)
    b, n, m = 2, 5, 3
    d = torch.float64
    memory = torch.randn(b, m, n, generator=g, dtype=d)
    w = torch.softmax(torch.randn(b, heads, n, generator=g, dtype=d), dim=-1)
    erase = torch.sigmoid(torch.randn(b, heads, m, generator=g, dtype=d))
    add = torch.tanh(torch.randn(b, heads, m, generator=g, dtype=d))
    inputs = tuple(x.requires_grad_() for x in (memory, w, erase, add))
    assert torch.autograd.gradcheck(A.write, inputs)

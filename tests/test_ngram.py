"""The dynamic n-gram generator against its spec (Graves et al. 2014, section 4.4)."""

import math

import pytest
import torch

from ntm_cli.tasks import NgramTask


def _sample(batch=8, seed=0, task=None, **overrides):
    return (task or NgramTask()).sample(batch, torch.Generator().manual_seed(seed), **overrides)


def _reference_cost_bits(bits, context=5):
    """Brute-force optimal Bayesian (Beta(1/2, 1/2)) predictor's cost in bits on one episode's bit list.

    The context is the previous ``context`` bits as an integer, most recent bit least significant
    (any one-to-one encoding of those bits gives the same cost); the first ``context`` bits cost 1 bit.
    """
    ones, zeros = {}, {}
    cost = 0.0
    for t, bit in enumerate(bits):
        if t < context:
            cost += 1.0
            continue
        ctx = 0
        for prev in bits[t - context : t]:  # oldest first, so the most recent ends least significant
            ctx = (ctx * 2 + prev) % 2**context
        n1, n0 = ones.get(ctx, 0), zeros.get(ctx, 0)
        p_one = (n1 + 0.5) / (n1 + n0 + 1.0)
        cost -= math.log2(p_one if bit == 1 else 1.0 - p_one)
        if bit == 1:
            ones[ctx] = n1 + 1
        else:
            zeros[ctx] = n0 + 1
    return cost


def _followers(bits, context=5):
    """The bits that followed each context in one episode, in order; contexts encoded as in the reference."""
    seen = {}
    for t in range(context, len(bits)):
        ctx = 0
        for prev in bits[t - context : t]:
            ctx = ctx * 2 + prev
        seen.setdefault(ctx, []).append(bits[t])
    return seen


def test_shapes_and_full_mask():
    """One input and one output channel, 200 steps by default, every step counts, no padding."""
    b = _sample(batch=6)
    assert b.inputs.shape == (200, 6, 1)
    assert b.targets.shape == (200, 6, 1)
    assert b.mask.shape == (200, 6)
    assert torch.all(b.mask == 1)
    assert b.steps.tolist() == [200] * 6


def test_input_is_the_previous_target_bit():
    """Input at step 0 is 0 and input at step t is the target at step t - 1; targets are bits."""
    b = _sample(batch=16, seed=1)
    assert set(b.targets.unique().tolist()) == {0.0, 1.0}
    for i in range(16):
        x, y = b.inputs[:, i, 0].tolist(), b.targets[:, i, 0].tolist()
        assert x[0] == 0.0
        assert all(x[t] == y[t - 1] for t in range(1, 200))


def test_first_bits_are_fair_independent_coins():
    """The first 5 bits have mean about 1/2 and their count of ones is Binomial(5, 1/2) (variance 5/4)."""
    b = _sample(batch=4000, seed=2, length=8)
    first = b.targets[:5, :, 0]
    assert abs(first.mean().item() - 0.5) < 0.02
    # Bits drawn from one shared Beta(1/2, 1/2) probability would give variance 5/8 + 25/8 = 3.75.
    assert abs(first.sum(0).var().item() - 1.25) < 0.15


def test_optimal_cost_matches_a_brute_force_reference():
    """optimal_cost_bits equals a plain-Python Bayesian predictor on short episodes, to 1e-4 bits."""
    task = NgramTask(length=30)
    b = task.sample(4, torch.Generator().manual_seed(3))
    got = task.optimal_cost_bits(b).tolist()
    for i in range(4):
        bits = [int(v) for v in b.targets[:, i, 0].tolist()]
        assert got[i] == pytest.approx(_reference_cost_bits(bits), abs=1e-4)


def test_reference_cost_of_the_first_bits_is_one_bit_each():
    """The optimal cost of a 5-bit episode is exactly 5 bits, whatever the bits."""
    task = NgramTask(length=5)
    b = task.sample(8, torch.Generator().manual_seed(4))
    assert task.optimal_cost_bits(b).tolist() == pytest.approx([5.0] * 8, abs=1e-6)


def test_bits_follow_one_probability_per_context():
    """Mean optimal cost over 500 episodes of 200 bits lies near the paper's 133 bits."""
    task = NgramTask()
    cost = task.optimal_cost_bits(task.sample(500, torch.Generator().manual_seed(5)))
    assert 125.0 < cost.mean().item() < 140.0


def test_bits_after_a_context_share_one_probability():
    """Two bits after one context agree 3/4 of the time; after contexts differing in the oldest bit, 1/2."""
    b = _sample(batch=300, seed=6)
    same, other = [], []
    for i in range(300):
        seen = _followers([int(v) for v in b.targets[:, i, 0].tolist()])
        for ctx, after in seen.items():
            if len(after) >= 2:
                same.append(after[0] == after[1])
            if ctx < 16 and ctx + 16 in seen:
                other.append(after[0] == seen[ctx + 16][0])
    # One p ~ Beta(1/2, 1/2) per context: P(equal) = E[p^2 + (1 - p)^2] = 3/4; independent contexts: 1/2.
    assert 0.72 < sum(same) / len(same) < 0.78
    assert 0.46 < sum(other) / len(other) < 0.54


def test_length_override():
    """sample(length=n) gives n-step episodes."""
    b = _sample(batch=3, length=37)
    assert b.inputs.shape == (37, 3, 1) and b.mask.shape == (37, 3)
    assert b.steps.tolist() == [37] * 3


def test_eval_rows():
    """No eval rows by default; given lengths give one row each, sampling episodes of that length."""
    task = NgramTask()
    assert task.eval_rows() == {}
    rows = task.eval_rows(lengths=[50, 300])
    assert sorted(v["length"] for v in rows.values()) == [50, 300]
    for overrides in rows.values():
        b = task.sample(2, torch.Generator().manual_seed(0), **overrides)
        assert b.targets.shape == (overrides["length"], 2, 1)
        assert b.steps.tolist() == [overrides["length"]] * 2

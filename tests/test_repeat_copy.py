"""The repeat copy generator against its spec (Graves et al. 2014, section 4.2)."""

import math

import pytest
import torch

from ntm_cli.tasks import RepeatCopyTask

W = 8
# The discrete uniform distribution on 1..10: mean 5.5, variance (10^2 - 1) / 12 = 8.25.
MU, SIGMA = 5.5, math.sqrt(8.25)


def _sample(batch=32, seed=0, task=None, **overrides):
    return (task or RepeatCopyTask()).sample(batch, torch.Generator().manual_seed(seed), **overrides)


def _sizes(b, width=W, mu=MU, sigma=SIGMA):
    """Each episode's (L, R, r): L from the delimiter's step, R from the encoded count r via the affine map."""
    out = []
    for i in range(b.inputs.shape[1]):
        x = b.inputs[:, i]
        ones = (x[:, width] == 1).nonzero().flatten().tolist()
        assert len(ones) == 1, f"episode {i}: one delimiter expected, got steps {ones}"
        length = ones[0]
        r = x[length + 1, width + 1].item()
        repeats = r * sigma + mu
        assert abs(repeats - round(repeats)) < 1e-4, f"episode {i}: {r} encodes no integer repeat count"
        out.append((length, round(repeats), r))
    return out


def _expected(seq, length, repeats, r, steps, width=W):
    """The episode the docstring describes, padded to ``steps``, built step by step."""
    x = torch.zeros(steps, width + 2)
    y = torch.zeros(steps, width + 1)
    m = torch.zeros(steps)
    for t in range(length):
        for c in range(width):
            x[t, c] = seq[t][c]
    x[length, width] = 1.0
    x[length + 1, width + 1] = r
    start = length + 2
    for j in range(repeats * length):
        for c in range(width):
            y[start + j, c] = seq[j % length][c]
        m[start + j] = 1.0
    y[start + repeats * length, width] = 1.0
    m[start + repeats * length] = 1.0
    return x, y, m


def test_shapes_and_channels():
    """Inputs carry width + 2 channels, targets width + 1, padded to the longest episode."""
    b = _sample(batch=6, task=RepeatCopyTask(width=5, min_len=2, max_len=4, min_repeats=1, max_repeats=3))
    t = int(b.steps.max())
    assert b.inputs.shape == (t, 6, 7)
    assert b.targets.shape == (t, 6, 6)
    assert b.mask.shape == (t, 6)
    assert b.steps.shape == (6,)


def test_each_episode_follows_the_layout():
    """Sequence, delimiter at L, count at L + 1, R copies from L + 2, end marker at L + 2 + R L; padding zero."""
    b = _sample(batch=24, seed=1)
    steps = b.inputs.shape[0]
    sizes = _sizes(b)
    assert len({(n, r) for n, r, _ in sizes}) > 1, "a batch mixes sizes"
    for i, (length, repeats, _) in enumerate(sizes):
        assert 1 <= length <= 10 and 1 <= repeats <= 10
        assert b.steps[i].item() == length + 2 + repeats * length + 1
        seq = b.inputs[:length, i, :W].tolist()
        assert all(v in (0.0, 1.0) for row in seq for v in row)
        x, y, m = _expected(seq, length, repeats, (repeats - MU) / SIGMA, steps)
        assert torch.allclose(b.inputs[:, i], x, rtol=0, atol=1e-6), f"episode {i} inputs"
        assert torch.equal(b.targets[:, i], y), f"episode {i} targets"
        assert torch.equal(b.mask[:, i], m), f"episode {i} mask"


def test_bits_are_binary_and_balanced():
    """Sequence bits are 0/1 with about half ones."""
    b = _sample(batch=256, min_len=10, max_len=10, min_repeats=1, max_repeats=1)
    bits = b.inputs[:10, :, :W]
    assert set(bits.unique().tolist()) == {0.0, 1.0}
    assert 0.46 < bits.mean().item() < 0.54


def test_training_repeat_counts_are_standardised():
    """Over many episodes the encoded repeat count has mean about 0 and variance about 1."""
    b = _sample(batch=4000, seed=2, min_len=1, max_len=1)
    r = b.inputs[2, :, W + 1].double()  # L = 1: the count sits at step 2
    assert abs(r.mean().item()) < 0.06
    assert abs(r.var().item() - 1.0) < 0.06
    expected = sorted((k - 5.5) / math.sqrt(8.25) for k in range(1, 11))
    assert r.unique().tolist() == pytest.approx(expected, abs=1e-6)


def test_repeats_beyond_training_keep_the_training_normalisation():
    """R = 20 after training on 1-10 encodes as (20 - 5.5) / sqrt(8.25), about 5.05."""
    b = _sample(batch=8, min_repeats=20, max_repeats=20, min_len=3, max_len=3)
    r = b.inputs[4, :, W + 1]
    assert torch.allclose(r, torch.full((8,), (20 - 5.5) / math.sqrt(8.25)), rtol=0, atol=1e-5)
    assert abs(r[0].item() - 5.05) < 0.01
    assert torch.all(b.steps == 3 + 2 + 20 * 3 + 1)
    # A task trained on 1-20 encodes the same R with its own range: mean 10.5, variance 33.25.
    wide = _sample(batch=2, task=RepeatCopyTask(max_repeats=20), min_repeats=20, max_repeats=20, min_len=3, max_len=3)
    assert wide.inputs[4, 0, W + 1].item() == pytest.approx(9.5 / math.sqrt(33.25), abs=1e-5)


def test_lengths_and_repeats_are_uniform_over_their_ranges():
    """Every L of [min_len, max_len] and R of [min_repeats, max_repeats] occurs about equally, none outside."""
    task = RepeatCopyTask(min_len=2, max_len=6, min_repeats=3, max_repeats=7)
    b = _sample(batch=3000, seed=3, task=task)
    lengths = b.inputs[..., W].argmax(0)
    assert torch.all(b.inputs[..., W].sum(0) == 1)
    r = b.inputs[lengths + 1, torch.arange(3000), W + 1]
    repeats = torch.round(r * math.sqrt(2.0) + 5.0).long()  # uniform on 3..7: mean 5, variance 2
    for values, lo in ((lengths, 2), (repeats, 3)):
        counts = torch.bincount(values, minlength=12)
        assert counts[:lo].sum() == 0 and counts[lo + 5 :].sum() == 0, counts
        assert torch.all((counts[lo : lo + 5] - 600).abs() < 110), counts
    assert torch.equal(b.steps, lengths + 2 + repeats * lengths + 1)


def test_default_eval_rows():
    """The default protocol crosses lengths 10, 20 with repeats 10, 20, and each row samples that size."""
    task = RepeatCopyTask()
    rows = task.eval_rows()
    got = sorted((v["min_len"], v["max_len"], v["min_repeats"], v["max_repeats"]) for v in rows.values())
    assert got == [(10, 10, 10, 10), (10, 10, 20, 20), (20, 20, 10, 10), (20, 20, 20, 20)]
    for overrides in rows.values():
        b = task.sample(3, torch.Generator().manual_seed(0), **overrides)
        n, r = overrides["min_len"], overrides["min_repeats"]
        assert [(length, repeats) for length, repeats, _ in _sizes(b)] == [(n, r)] * 3
        assert torch.all(b.steps == n + 2 + r * n + 1)
        assert torch.all(b.mask.sum(0) == r * n + 1)


def test_eval_rows_take_given_lengths_and_repeats():
    """Given lengths and repeats replace the defaults, one row per pair."""
    rows = RepeatCopyTask().eval_rows(lengths=[5], repeats=[3, 7])
    got = sorted((v["min_len"], v["max_len"], v["min_repeats"], v["max_repeats"]) for v in rows.values())
    assert got == [(5, 5, 3, 3), (5, 5, 7, 7)]

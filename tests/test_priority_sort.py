"""The priority sort generator against its spec (Graves et al. 2014, section 4.5)."""

import torch

from ntm_cli.tasks import PrioritySortTask

W = 8


def _sample(batch=16, seed=0, task=None, **overrides):
    return (task or PrioritySortTask()).sample(batch, torch.Generator().manual_seed(seed), **overrides)


def _expected(vectors, priorities, n, k, width=W):
    """The episode the docstring describes, with the answer from a plain Python sort by priority."""
    steps = n + 1 + k
    x = torch.zeros(steps, width + 2)
    y = torch.zeros(steps, width)
    m = torch.zeros(steps)
    for t in range(n):
        for c in range(width):
            x[t, c] = vectors[t][c]
        x[t, width] = priorities[t]
    x[n, width + 1] = 1.0
    ranked = sorted(range(n), key=lambda i: priorities[i], reverse=True)[:k]
    for j, i in enumerate(ranked):
        for c in range(width):
            y[n + 1 + j, c] = vectors[i][c]
        m[n + 1 + j] = 1.0
    return x, y, m


def _check_episodes(b, n, k, width=W):
    """Every episode equals its rebuilt layout exactly."""
    assert b.steps.tolist() == [n + 1 + k] * b.inputs.shape[1]
    for i in range(b.inputs.shape[1]):
        vectors = b.inputs[:n, i, :width].tolist()
        priorities = b.inputs[:n, i, width].tolist()
        assert all(v in (0.0, 1.0) for row in vectors for v in row)
        assert len(set(priorities)) == n, "priorities are distinct, so the order is defined"
        x, y, m = _expected(vectors, priorities, n, k, width)
        assert torch.equal(b.inputs[:, i], x), f"episode {i} inputs"
        assert torch.equal(b.targets[:, i], y), f"episode {i} targets"
        assert torch.equal(b.mask[:, i], m), f"episode {i} mask"


def test_shapes_and_channels():
    """Inputs carry width + 2 channels, targets width, over num_inputs + 1 + num_outputs steps."""
    b = _sample(batch=5, task=PrioritySortTask(width=5, num_inputs=7, num_outputs=3))
    assert b.inputs.shape == (11, 5, 7)
    assert b.targets.shape == (11, 5, 5)
    assert b.mask.shape == (11, 5)
    assert b.steps.tolist() == [11] * 5


def test_each_episode_follows_the_layout():
    """Vectors with priorities, delimiter alone at num_inputs, then the top num_outputs by priority, descending."""
    _check_episodes(_sample(batch=16, seed=1), n=20, k=16)


def test_layout_with_other_sizes_and_width():
    """The layout holds for a width and sizes other than the defaults."""
    _check_episodes(_sample(batch=8, seed=2, task=PrioritySortTask(width=3, num_inputs=6, num_outputs=4)), 6, 4, 3)


def test_overrides_for_evaluation():
    """sample(num_inputs=10, num_outputs=5) gives 10-input, 5-output episodes."""
    _check_episodes(_sample(batch=8, seed=3, num_inputs=10, num_outputs=5), n=10, k=5)


def test_priorities_are_uniform_on_minus_one_to_one():
    """Priorities lie in [-1, 1] with mean about 0, variance about 1/3 and equal quarters."""
    p = _sample(batch=2000, seed=4).inputs[:20, :, W].flatten().double()
    assert p.min().item() >= -1.0 and p.max().item() <= 1.0
    assert abs(p.mean().item()) < 0.02
    assert abs(p.var().item() - 1 / 3) < 0.01
    quarters = torch.histc(p, bins=4, min=-1.0, max=1.0) / p.numel()
    assert torch.all((quarters - 0.25).abs() < 0.01), quarters


def test_bits_are_binary_and_balanced():
    """Vector bits are 0/1 with about half ones."""
    bits = _sample(batch=256, seed=5).inputs[:20, :, :W]
    assert set(bits.unique().tolist()) == {0.0, 1.0}
    assert 0.47 < bits.mean().item() < 0.53


def test_eval_rows():
    """No eval rows by default; given input counts keep the 16/20 ratio of outputs and sample that size."""
    task = PrioritySortTask()
    assert task.eval_rows() == {}
    rows = task.eval_rows(lengths=[10, 40])
    got = sorted((v["num_inputs"], v["num_outputs"]) for v in rows.values())
    assert got == [(10, 8), (40, 32)]
    for overrides in rows.values():
        b = task.sample(3, torch.Generator().manual_seed(0), **overrides)
        _check_episodes(b, overrides["num_inputs"], overrides["num_outputs"])

"""The associative recall generator against its spec (Graves et al. 2014, section 4.3)."""

import torch

from ntm_cli.tasks import AssociativeRecallTask

W, K = 6, 3


def _sample(batch=32, seed=0, task=None, **overrides):
    return (task or AssociativeRecallTask()).sample(batch, torch.Generator().manual_seed(seed), **overrides)


def _read(x, k=K, width=W):
    """One episode's (n, items, query index): n counts item delimiters; q is the item the query repeats."""
    n = int(x[:, width].sum().item())
    items = [x[(k + 1) * i + 1 : (k + 1) * i + 1 + k, :width].tolist() for i in range(n)]
    query = x[(k + 1) * n + 1 : (k + 1) * n + 1 + k, :width].tolist()
    matches = [q for q in range(n - 1) if items[q] == query]
    assert matches, "the query repeats one of items 0 .. n - 2"
    return n, items, matches


def _expected(items, q, steps, k=K, width=W):
    """The episode the docstring describes for these items and query q, padded to ``steps``."""
    n = len(items)
    x = torch.zeros(steps, width + 2)
    y = torch.zeros(steps, width)
    m = torch.zeros(steps)
    for i in range(n):
        x[(k + 1) * i, width] = 1.0
        for j in range(k):
            for c in range(width):
                x[(k + 1) * i + 1 + j, c] = items[i][j][c]
    start = (k + 1) * n
    x[start, width + 1] = 1.0
    for j in range(k):
        for c in range(width):
            x[start + 1 + j, c] = items[q][j][c]
    x[start + k + 1, width + 1] = 1.0
    for j in range(k):
        for c in range(width):
            y[start + k + 2 + j, c] = items[q + 1][j][c]
        m[start + k + 2 + j] = 1.0
    return x, y, m


def _check_episodes(b, k=K, width=W):
    """Every episode equals its rebuilt layout exactly; returns the item counts."""
    steps = b.inputs.shape[0]
    counts = []
    for i in range(b.inputs.shape[1]):
        n, items, matches = _read(b.inputs[:, i], k, width)
        assert b.steps[i].item() == (k + 1) * n + 2 * k + 2
        assert all(v in (0.0, 1.0) for item in items for row in item for v in row)
        # Items can coincide by chance; some matching q must explain the whole episode.
        rebuilt = [_expected(items, q, steps, k, width) for q in matches]
        assert any(
            torch.equal(b.inputs[:, i], x) and torch.equal(b.targets[:, i], y) and torch.equal(b.mask[:, i], m)
            for x, y, m in rebuilt
        ), f"episode {i} departs from the layout"
        counts.append(n)
    return counts


def _query_index(b, k=K, width=W):
    """The query's position in the list, for episodes whose target is the item after it."""
    out = []
    for i in range(b.inputs.shape[1]):
        n, items, matches = _read(b.inputs[:, i], k, width)
        target = b.targets[(k + 1) * n + k + 2 : (k + 1) * n + 2 * k + 2, i].tolist()
        out.append(next(q for q in matches if items[q + 1] == target))
    return out


def test_shapes_and_channels():
    """Inputs carry width + 2 channels, targets width, padded to the longest episode."""
    b = _sample(batch=5, task=AssociativeRecallTask(width=4, item_len=2, min_items=2, max_items=5))
    t = int(b.steps.max())
    assert b.inputs.shape == (t, 5, 6)
    assert b.targets.shape == (t, 5, 4)
    assert b.mask.shape == (t, 5)
    assert b.steps.shape == (5,)


def test_each_episode_follows_the_layout():
    """Item delimiters at (k + 1) i, query between delimiters, target the next item; padding zero."""
    b = _sample(batch=24, seed=1)
    counts = _check_episodes(b)
    assert len(set(counts)) > 1, "a batch mixes sizes"


def test_layout_with_other_item_length_and_width():
    """The layout holds for item_len and width other than the defaults."""
    task = AssociativeRecallTask(width=4, item_len=2, min_items=2, max_items=5)
    _check_episodes(_sample(batch=16, seed=2, task=task), k=2, width=4)


def test_query_position_is_uniform_over_all_but_the_last_item():
    """The query is item q with q roughly uniform on 0 .. n - 2, every value occurring."""
    b = _sample(batch=2000, seed=3, min_items=5, max_items=5)
    counts = torch.bincount(torch.tensor(_query_index(b)), minlength=5)
    assert counts[4] == 0
    assert torch.all((counts[:4] - 500).abs() < 100), counts


def test_item_counts_are_uniform_over_the_range():
    """Every n of [min_items, max_items] occurs about equally, none outside."""
    b = _sample(batch=3000, seed=4)
    n = b.inputs[..., W].sum(0).long()
    assert torch.equal(b.steps, (K + 1) * n + 2 * K + 2)
    counts = torch.bincount(n, minlength=10)
    assert counts[:2].sum() == 0 and counts[7:].sum() == 0, counts
    assert torch.all((counts[2:7] - 600).abs() < 110), counts


def test_twenty_items_for_evaluation():
    """sample(min_items=20, max_items=20) gives 20-item episodes beyond the training range."""
    b = _sample(batch=4, min_items=20, max_items=20)
    assert _check_episodes(b) == [20] * 4
    assert torch.all(b.steps == 4 * 20 + 8)


def test_default_eval_rows():
    """The default protocol has 6, 10, 15 and 20 items, and each row samples that many."""
    task = AssociativeRecallTask()
    rows = task.eval_rows()
    assert sorted((v["min_items"], v["max_items"]) for v in rows.values()) == [(6, 6), (10, 10), (15, 15), (20, 20)]
    for overrides in rows.values():
        b = task.sample(3, torch.Generator().manual_seed(0), **overrides)
        assert _check_episodes(b) == [overrides["min_items"]] * 3


def test_eval_rows_take_given_lengths():
    """Given item counts replace the defaults."""
    rows = AssociativeRecallTask().eval_rows(lengths=[3, 8])
    assert sorted((v["min_items"], v["max_items"]) for v in rows.values()) == [(3, 3), (8, 8)]

"""The copy generator against its spec (Graves et al. 2014, section 4.1)."""

import pytest
import torch

from ntm_cli.tasks import CopyTask


def _sample(batch=64, seed=0, **kw):
    return CopyTask(**kw).sample(batch, torch.Generator().manual_seed(seed))


def test_shapes_and_channels():
    """Inputs carry width + 1 channels, targets width, all time-major and padded to 2 max(L) + 1."""
    b = _sample(batch=5, width=6, min_len=2, max_len=7)
    lengths = (b.steps - 1) // 2
    t = 2 * int(lengths.max()) + 1
    assert b.inputs.shape == (t, 5, 7)
    assert b.targets.shape == (t, 5, 6)
    assert b.mask.shape == (t, 5)
    assert torch.equal(b.steps, 2 * lengths + 1)


def test_each_episode_follows_the_layout():
    """Sequence, then the delimiter alone at step L, then silence; targets repeat the sequence after it."""
    b = _sample(batch=32, min_len=1, max_len=9)
    for i, steps in enumerate(b.steps.tolist()):
        length = (steps - 1) // 2
        x, y, m = b.inputs[:, i], b.targets[:, i], b.mask[:, i]
        bits = x[:length, :8]
        assert torch.all(x[:length, 8] == 0)
        assert torch.equal(x[length], torch.tensor([0.0] * 8 + [1.0]))
        assert torch.all(x[length + 1 :] == 0), "no input while answering, nor in the padding"
        assert torch.equal(y[length + 1 : 2 * length + 1], bits)
        assert torch.all(y[: length + 1] == 0) and torch.all(y[2 * length + 1 :] == 0)
        assert torch.equal(m, (torch.arange(len(m)) > length).float() * (torch.arange(len(m)) <= 2 * length))


def test_bits_are_binary_and_balanced():
    """Sequence bits are 0/1 with about half ones."""
    b = _sample(batch=256, min_len=20, max_len=20)
    bits = b.inputs[:20, :, :8]
    assert set(bits.unique().tolist()) == {0.0, 1.0}
    assert 0.47 < bits.mean().item() < 0.53


def test_lengths_are_uniform_over_the_range():
    """Every length of [min_len, max_len] occurs, each with roughly equal frequency, and none outside it."""
    b = _sample(batch=6000, min_len=3, max_len=8)
    lengths = (b.steps - 1) // 2
    counts = torch.bincount(lengths, minlength=9)
    assert counts[:3].sum() == 0
    assert torch.all((counts[3:] - 1000).abs() < 150), counts


def test_same_seed_same_data_and_different_seed_different_data():
    a, b, c = _sample(seed=7), _sample(seed=7), _sample(seed=8)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a.inputs[:5], c.inputs[:5]) or not torch.equal(a.steps, c.steps)


def test_length_override_for_evaluation():
    """sample(min_len=L, max_len=L) gives every episode length L, beyond the training range too."""
    b = CopyTask().sample(4, torch.Generator().manual_seed(0), min_len=120, max_len=120)
    assert torch.all(b.steps == 241)
    assert b.mask.sum().item() == 4 * 120


@pytest.mark.parametrize("width", [1, 8])
def test_mask_counts_the_target_bits(width):
    """The mask marks exactly L answer steps per episode."""
    b = _sample(batch=16, width=width)
    assert torch.equal(b.mask.sum(0), ((b.steps - 1) // 2).float())

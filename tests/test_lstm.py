"""The LSTM baseline: shapes, its learned initial state, batch independence, sizes."""

import pytest
import torch

from ntm_cli.models.lstm import LSTMBaseline


@pytest.fixture
def model():
    torch.manual_seed(0)
    return LSTMBaseline(5, 3, hidden_size=7, layers=3)


def test_forward_shapes_and_state(model):
    logits, state = model(torch.rand(4, 2, 5))
    assert logits.shape == (4, 2, 3)
    assert state.h.shape == state.c.shape == (3, 2, 7)


def test_state_carries_over_between_calls(model):
    """Running a sequence in two halves, passing the state, equals running it whole."""
    x = torch.rand(6, 2, 5)
    whole, _ = model(x)
    first, state = model(x[:3])
    second, _ = model(x[3:], state)
    torch.testing.assert_close(torch.cat([first, second]), whole)


def test_initial_state_is_learned(model):
    logits, _ = model(torch.rand(3, 2, 5))
    logits.sum().backward()
    assert model.h0.grad.abs().sum() > 0 and model.c0.grad.abs().sum() > 0


def test_batch_elements_do_not_interact(model):
    x = torch.rand(5, 3, 5)
    y, _ = model(x)
    x2 = x.clone()
    x2[:, 1] = torch.rand(5, 5)
    y2, _ = model(x2)
    torch.testing.assert_close(y2[:, [0, 2]], y[:, [0, 2]])
    assert not torch.allclose(y2[:, 1], y[:, 1])


def test_parameter_count_of_the_papers_copy_baseline():
    """3 x 256 on copy (9 inputs, 8 outputs); hand count: torch's LSTM has two bias vectors per layer.

    layer 1: 4*256*(9 + 256) + 2*4*256 = 273,408; layers 2, 3: 4*256*512 + 2*4*256 = 526,336 each;
    output 256*8 + 8 = 2,056; learned initial h and c 2*3*256 = 1,536. Total 1,329,672.
    """
    model = LSTMBaseline(9, 8, hidden_size=256, layers=3)
    assert sum(p.numel() for p in model.parameters()) == 1_329_672


def test_a_step_function_is_refused(model):
    with pytest.raises(ValueError, match="whole sequences"):
        model(torch.rand(2, 1, 5), step=lambda x, s: (x, s))

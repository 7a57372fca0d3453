"""Cost in bits and bit errors per sequence, against hand-computed values."""

import math

import torch

from ntm_cli.tasks import Batch, bit_errors, masked_bce_bits


def _batch():
    # Two episodes, 2 steps, 2 output bits. Episode 0 counts both steps, episode 1 only step 1.
    targets = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [0.0, 0.0]]])  # (T, B, 2)
    mask = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    return Batch(torch.zeros(2, 2, 1), targets, mask, torch.tensor([2, 2]))


def test_cost_in_bits_is_masked_cross_entropy_over_log2():
    """Logit 0 costs exactly one bit per target bit: episode 0 has 4 counted bits, episode 1 has 2."""
    cost = masked_bce_bits(torch.zeros(2, 2, 2), _batch())
    assert torch.allclose(cost, torch.tensor([4.0, 2.0]))


def test_cost_of_a_confident_answer():
    """A logit of +3 on a 1 target costs log2(1 + e^-3) bits; on a 0 target log2(1 + e^3)."""
    logits = torch.full((2, 2, 2), 3.0)
    cost = masked_bce_bits(logits, _batch())
    right, wrong = math.log2(1 + math.exp(-3)), math.log2(1 + math.exp(3))
    # Episode 0 counts step 0 [1,0] and step 1 [1,1] -> 3 right, 1 wrong; episode 1 step 1 [0,0] -> 2 wrong.
    assert torch.allclose(cost, torch.tensor([3 * right + wrong, 2 * wrong]), atol=1e-5)


def test_bit_errors_threshold_at_one_half():
    """Outputs above 0.5 count as 1; masked steps never count."""
    logits = torch.tensor([[[5.0, -5.0], [5.0, 5.0]], [[-5.0, 5.0], [-5.0, -5.0]]])
    # Episode 0: step 0 says [1,0] for [1,0] -> 0, step 1 says [0,1] for [1,1] -> 1.
    # Episode 1: step 0 is masked (its 2 wrong bits do not count), step 1 says [0,0] for [0,0] -> 0.
    assert torch.equal(bit_errors(logits, _batch()), torch.tensor([1.0, 0.0]))

"""Tests of the ``NTM`` module: shapes, initial state, statelessness, batch independence and gradients."""

from __future__ import annotations

import math

import pytest
import torch

from ntm_cli.models.ntm import NTM, NTMState

CONTROLLERS = ["lstm", "feedforward"]


def small_ntm(controller: str = "lstm", **kwargs) -> NTM:
    torch.manual_seed(0)
    config = dict(
        controller=controller,
        hidden_size=8,
        memory_n=6,
        memory_m=3,
        read_heads=2,
        write_heads=2,
    )
    config.update(kwargs)
    return NTM(4, 5, **config)


def random_inputs(time: int, batch: int, size: int = 4, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(time, batch, size, generator=g, dtype=dtype)


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("controller", CONTROLLERS)
def test_output_and_state_shapes(controller):
    """Batch 3, 2 read and 2 write heads: logits [T, B, out] and every state tensor has its documented shape."""
    model = small_ntm(controller)
    logits, state = model(random_inputs(4, 3))
    assert logits.shape == (4, 3, 5)
    assert isinstance(state, NTMState)
    assert state.reads.shape == (3, 2, 3)  # [batch, R, M]
    assert state.weights.shape == (3, 4, 6)  # [batch, R + W, N]
    assert state.memory.shape == (3, 3, 6)  # [batch, M, N]
    if controller == "lstm":
        assert [s.shape for s in state.controller] == [(3, 8), (3, 8)]  # (h, c)
    else:
        assert state.controller == ()
    torch.testing.assert_close(state.weights.sum(-1), torch.ones(3, 4))
    assert torch.isfinite(logits).all()


def test_two_layer_lstm_state_shapes():
    """A 2-layer LSTM controller carries (h1, c1, h2, c2)."""
    model = small_ntm("lstm", controller_layers=2)
    _, state = model(random_inputs(2, 3))
    assert [s.shape for s in state.controller] == [(3, 8)] * 4


# ---------------------------------------------------------------- initial state


def test_initial_state_weights_focused_on_location_zero():
    """Initial head weightings sum to one and put more than 0.9 on location 0, for every row and head."""
    model = small_ntm(memory_n=16)
    state = model.initial_state(3)
    assert state.weights.shape == (3, 4, 16)
    torch.testing.assert_close(state.weights.sum(-1), torch.ones(3, 4))
    assert (state.weights[..., 0] > 0.9).all()
    # softmax of logits (10, 0, ..., 0): e^10 / (e^10 + 15)
    expected = math.exp(10) / (math.exp(10) + 15)
    torch.testing.assert_close(state.weights[..., 0], torch.full((3, 4), expected))
    assert state.reads.shape == (3, 2, 3)
    assert state.memory.shape == (3, 3, 16)


def test_memory_init_constant():
    """memory_init 'constant' fills every cell with memory_init_value and is not a parameter."""
    model = small_ntm(memory_init="constant", memory_init_value=0.25)
    memory = model.initial_state(2).memory
    assert memory.shape == (2, 3, 6)
    assert torch.equal(memory, torch.full((2, 3, 6), 0.25))
    assert "initial_memory" not in dict(model.named_parameters())


def test_memory_init_random_is_seeded():
    """memory_init 'random' is reproducible with the same generator seed and differs between seeds."""
    model = small_ntm(memory_init="random", memory_init_value=0.5)
    a = model.initial_state(2, generator=torch.Generator().manual_seed(0)).memory
    b = model.initial_state(2, generator=torch.Generator().manual_seed(0)).memory
    c = model.initial_state(2, generator=torch.Generator().manual_seed(1)).memory
    assert a.shape == (2, 3, 6)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert a.std() > 0.1  # really random, at scale memory_init_value
    assert not torch.allclose(a[0], a[1])  # each episode draws its own memory


def test_memory_init_learned_is_a_parameter():
    """memory_init 'learned' makes the initial memory a parameter that the initial state uses."""
    model = small_ntm(memory_init="learned", memory_init_value=0.1)
    params = dict(model.named_parameters())
    assert "initial_memory" in params
    assert params["initial_memory"].shape == (6, 3)
    memory = model.initial_state(2).memory
    assert memory.requires_grad
    # initial_memory has one row per location; the state holds [batch, M, N].
    torch.testing.assert_close(memory, params["initial_memory"].detach().t().expand(2, -1, -1))


def test_invalid_memory_init_raises():
    """An unknown memory_init raises ValueError."""
    with pytest.raises(ValueError, match="memory_init"):
        small_ntm(memory_init="zeros")


# ---------------------------------------------------------------- statelessness and batching


@pytest.mark.parametrize("controller", CONTROLLERS)
def test_module_keeps_no_state_between_calls(controller):
    """Two forward calls on the same input give identical logits."""
    model = small_ntm(controller)
    x = random_inputs(5, 3)
    first, _ = model(x)
    second, _ = model(x)
    assert torch.equal(first, second)


def test_state_can_be_carried_across_calls():
    """Running a sequence in two halves, passing the state on, equals running it whole."""
    model = small_ntm("lstm")
    x = random_inputs(6, 3)
    whole, whole_state = model(x)
    head, state = model(x[:3])
    tail, tail_state = model(x[3:], state)
    torch.testing.assert_close(torch.cat([head, tail]), whole)
    torch.testing.assert_close(tail_state.memory, whole_state.memory)


@pytest.mark.parametrize("controller", CONTROLLERS)
def test_batch_rows_are_independent(controller):
    """Row 0 of a batch of 2 gives the same logits as a batch of 1 holding only row 0."""
    model = small_ntm(controller)
    x = random_inputs(5, 2)
    both, _ = model(x)
    alone, _ = model(x[:, :1])
    torch.testing.assert_close(both[:, :1], alone, atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------- write then read through the model


N_LOC, M_WIDTH, INIT = 5, 3, 0.3


def scripted_ntm(starts: list[int], shift: int, adds: list[list[float]], read_heads: int) -> NTM:
    """An NTM whose head outputs ignore the controller (head_params = bias only).

    Every head keeps its previous weighting (gate ~ 0), which starts one-hot at ``starts[h]``
    (read heads first), and moves it by ``shift`` in {-1, 0, +1}; write head h erases fully and
    adds ``adds[h]``. Memory starts at 0.3 everywhere.
    """
    heads = len(starts)
    model = NTM(
        2,
        2,
        controller="feedforward",
        hidden_size=4,
        memory_n=N_LOC,
        memory_m=M_WIDTH,
        read_heads=read_heads,
        write_heads=heads - read_heads,
        memory_init="constant",
        memory_init_value=INIT,
    )
    per_head = M_WIDTH + 1 + 1 + 3 + 1  # key 0..2, beta 3, gate 4, shift 5..7 = s(-1), s(0), s(+1), gamma 8
    with torch.no_grad():
        model.head_params.weight.zero_()
        bias = torch.zeros_like(model.head_params.bias)
        for h in range(heads):
            bias[per_head * h + 4] = -50.0  # gate ~ 0: keep the previous weighting
            bias[per_head * h + 6 + shift] = 50.0  # shift ~ one-hot at `shift`
        for h, a in enumerate(adds):  # after the address block: per write head, erase (M) then add (M)
            base = per_head * heads + 2 * M_WIDTH * h
            bias[base : base + M_WIDTH] = 50.0  # erase ~ 1
            bias[base + M_WIDTH : base + 2 * M_WIDTH] = torch.atanh(torch.tensor(a))
        model.head_params.bias.copy_(bias)
        logits = torch.zeros(heads, N_LOC)
        logits[torch.arange(heads), starts] = 50.0
        model.initial_weight_logits.copy_(logits)
    return model


def test_step_writes_then_reads_the_written_vector():
    """Write head and read head both shift from location 2 to 3: memory row 3 becomes a and is read back."""
    a = [0.5, -0.25, 0.75]
    model = scripted_ntm(starts=[2, 2], shift=+1, adds=[a], read_heads=1)
    _, new_state = model.step(torch.randn(1, 2), model.initial_state(1))

    expected_w = torch.zeros(1, 2, N_LOC)
    expected_w[..., 3] = 1.0
    torch.testing.assert_close(new_state.weights, expected_w, atol=1e-6, rtol=0)
    expected_memory = torch.full((1, N_LOC, M_WIDTH), INIT)  # one row per location
    expected_memory[0, 3] = torch.tensor(a)
    torch.testing.assert_close(new_state.memory.mT, expected_memory, atol=1e-6, rtol=0)
    # The read sees M_t, after this step's write, not M_{t-1}.
    torch.testing.assert_close(new_state.reads, torch.tensor([[a]]), atol=1e-6, rtol=0)


def test_read_heads_come_first_in_the_weights():
    """Weight rows [:R] are read heads, [R:] write heads in order, each paired with its own erase/add."""
    a1, a2 = [0.5, -0.25, 0.75], [-0.6, 0.1, 0.2]
    # read head at 1; write head 1 at 4, write head 2 at 0; no shift.
    model = scripted_ntm(starts=[1, 4, 0], shift=0, adds=[a1, a2], read_heads=1)
    _, new_state = model.step(torch.randn(1, 2), model.initial_state(1))
    expected_memory = torch.full((1, N_LOC, M_WIDTH), INIT)  # one row per location
    expected_memory[0, 4] = torch.tensor(a1)
    expected_memory[0, 0] = torch.tensor(a2)
    torch.testing.assert_close(new_state.memory.mT, expected_memory, atol=1e-6, rtol=0)
    torch.testing.assert_close(new_state.reads, torch.full((1, 1, M_WIDTH), INIT), atol=1e-6, rtol=0)


# ---------------------------------------------------------------- gradients


@pytest.mark.parametrize("controller", CONTROLLERS)
def test_model_gradcheck_wrt_inputs(controller):
    """float64 gradcheck of the whole forward pass w.r.t. the inputs (N=5, M=3, hidden 4, T=3, batch 2)."""
    torch.manual_seed(0)
    model = NTM(
        2,
        3,
        controller=controller,
        hidden_size=4,
        memory_n=5,
        memory_m=3,
        read_heads=2,
        write_heads=2,
        memory_init_value=0.1,
    ).double()
    x = random_inputs(3, 2, size=2, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda inp: model(inp)[0], (x,))


@pytest.mark.parametrize("controller", CONTROLLERS)
def test_gradients_reach_every_parameter(controller):
    """After one backward pass every parameter (learned memory included) has a finite, non-zero gradient."""
    model = small_ntm(controller, memory_init="learned", memory_init_value=0.5)
    logits, _ = model(random_inputs(3, 2))
    (logits * torch.randn(logits.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_resize_memory_pads_the_initial_weightings_with_their_background():
    """Growing N keeps the trained logits and gives new locations the mean unfocused logit."""
    from ntm_cli.models.ntm import resize_memory

    state = {"initial_weight_logits": torch.tensor([[10.0, 1.0, 3.0]]), "other": torch.ones(2)}
    grown = resize_memory(state, 5)["initial_weight_logits"]
    assert torch.equal(grown, torch.tensor([[10.0, 1.0, 3.0, 2.0, 2.0]]))  # mean of 1 and 3
    assert torch.equal(resize_memory(state, 2)["initial_weight_logits"], torch.tensor([[10.0, 1.0]]))
    assert resize_memory(state, 3) is state


def test_resized_model_loads_and_runs_longer_sequences():
    from ntm_cli.models.ntm import resize_memory

    small = small_ntm(memory_n=6)
    big = small_ntm(memory_n=20)
    big.load_state_dict(resize_memory(small.state_dict(), 20))
    logits, state = big(torch.zeros(30, 2, 4))
    assert logits.shape == (30, 2, 5) and state.memory.shape == (2, 3, 20)
    torch.testing.assert_close(state.weights.sum(-1), torch.ones(2, 4))


def test_a_learned_memory_cannot_be_resized():
    from ntm_cli.models.ntm import resize_memory

    with pytest.raises(ValueError, match="memory_init=learned"):
        resize_memory(small_ntm(memory_init="learned").state_dict(), 12)


@pytest.mark.parametrize("memory_init", ["constant", "learned", "random"])
def test_memory_is_contiguous_along_the_locations(memory_init):
    """The state's memory [batch, M, N] has stride 1 along N from the first step on (every memory loop runs along N)."""
    model = small_ntm(memory_init=memory_init, memory_init_value=0.5)
    state = model.initial_state(2, generator=torch.Generator().manual_seed(0))
    assert state.memory.stride(-1) == 1 and state.memory.stride(-2) == model.memory_n
    _, state = model.step(torch.zeros(2, 4), state)
    assert state.memory.is_contiguous()

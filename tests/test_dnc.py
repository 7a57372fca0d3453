"""Tests of the DNC: each memory equation of ``ntm_cli.models.dnc`` and the ``DNC`` module.

Expected values are worked out by hand (the arithmetic is in the comments),
not by re-running the implementation's formula.
"""

from __future__ import annotations

import math

import pytest
import torch

from ntm_cli.models import addressing as A
from ntm_cli.models import dnc as D
from ntm_cli.models.dnc import DNC, DNCState

CONTROLLERS = ["lstm", "feedforward"]


def t(values, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def close(actual: torch.Tensor, expected, atol: float = 1e-6) -> None:
    expected = expected if isinstance(expected, torch.Tensor) else t(expected, actual.dtype)
    torch.testing.assert_close(actual, expected, atol=atol, rtol=0)


def random_inputs(time: int, batch: int, size: int = 4, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(time, batch, size, generator=g, dtype=dtype)


def small_dnc(controller: str = "lstm", **kwargs) -> DNC:
    torch.manual_seed(0)
    config = dict(controller=controller, hidden_size=8, memory_n=6, memory_m=3, read_heads=2)
    config.update(kwargs)
    return DNC(4, 5, **config)


# ---------------------------------------------------------------- interface


def test_oneplus_hand_values():
    """oneplus(x) = 1 + ln(1 + e^x): 1 + ln 2 at 0, 1 + ln(1 + e^3) at 3, ~1 far below zero."""
    out = D.oneplus(t([0.0, 3.0, -30.0]))
    close(out, [1.0 + math.log(2.0), 1.0 + math.log(1.0 + math.exp(3.0)), 1.0])
    assert (D.oneplus(torch.randn(100) * 10) >= 1.0).all()


def test_interface_size():
    """W R + 3 W + 5 R + 3: R = 2, W = 3 gives 6 + 9 + 10 + 3 = 28; R = 1, W = 20 gives 20 + 60 + 5 + 3 = 88."""
    assert D.interface_size(2, 3) == 28
    assert D.interface_size(1, 20) == 88


def test_split_interface_order_and_activations():
    """R = 2, W = 3: every part of xi comes from its slot in the paper's order, with its activation."""
    ln3, ln2 = math.log(3.0), math.log(2.0)
    parts = [
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],  # read keys, raw: head 0 = (1, 2, 3), head 1 = (4, 5, 6)
        [0.0, 3.0],  # read strengths -> 1 + ln 2, 1 + ln(1 + e^3)
        [7.0, 8.0, 9.0],  # write key, raw
        [0.0],  # write strength -> 1 + ln 2
        [0.0, ln3, -ln3],  # erase: sigmoid -> 1/2, 3/4, 1/4
        [-1.0, -2.0, -3.0],  # write vector, raw
        [ln3, -ln3],  # free gates -> 3/4, 1/4
        [-ln3],  # allocation gate -> 1/4
        [ln3],  # write gate -> 3/4
        [0.0, 0.0, ln2, ln3, 0.0, 0.0],  # read modes: softmax (1, 1, 2)/4 and (3, 1, 1)/5
    ]
    xi = t([sum(parts, [])])
    assert xi.shape == (1, 28)
    out = D.split_interface(xi, read_heads=2, word_size=3)
    close(out.read_keys, [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]])
    close(out.read_strengths, [[[1.0 + ln2], [1.0 + math.log(1.0 + math.exp(3.0))]]])
    close(out.write_key, [[[7.0, 8.0, 9.0]]])
    close(out.write_strength, [[[1.0 + ln2]]])
    close(out.erase, [[0.5, 0.75, 0.25]])
    close(out.write_vector, [[-1.0, -2.0, -3.0]])
    close(out.free_gates, [[0.75, 0.25]])
    close(out.allocation_gate, [[0.25]])
    close(out.write_gate, [[0.75]])
    close(out.read_modes, [[[0.25, 0.25, 0.5], [0.6, 0.2, 0.2]]])


def test_split_interface_ranges_on_random_input():
    """Batch 5, R = 3, W = 4: strengths >= 1, gates in [0, 1], read modes non-negative and summing to one."""
    g = torch.Generator().manual_seed(0)
    out = D.split_interface(5 * torch.randn(5, D.interface_size(3, 4), generator=g), read_heads=3, word_size=4)
    assert out.read_strengths.shape == (5, 3, 1) and out.write_strength.shape == (5, 1, 1)
    assert (out.read_strengths >= 1).all() and (out.write_strength >= 1).all()
    for gate in (out.erase, out.free_gates, out.allocation_gate, out.write_gate):
        assert ((gate >= 0) & (gate <= 1)).all()
    assert (out.read_modes >= 0).all()
    close(out.read_modes.sum(-1), torch.ones(5, 3), atol=1e-5)


# ---------------------------------------------------------------- usage and allocation


def test_retention_hand_values():
    """psi = prod_i (1 - f_i w^r_i) over two read heads with free gates 0.5 and 1."""
    free = t([[0.5, 1.0]])
    read_prev = t([[[0.2, 0.8, 0.0], [0.5, 0.0, 0.5]]])
    # loc 0: (1 - 0.5*0.2)(1 - 1*0.5) = 0.9*0.5 = 0.45; loc 1: (1 - 0.4)(1 - 0) = 0.6; loc 2: (1 - 0)(1 - 0.5) = 0.5
    close(D.retention(free, read_prev), [[0.45, 0.6, 0.5]])


def test_usage_hand_values():
    """u = (u_prev + w_prev - u_prev w_prev) psi."""
    u_prev, w_prev, psi = t([[0.5, 0.0, 1.0]]), t([[0.5, 0.2, 0.3]]), t([[1.0, 0.5, 0.8]])
    # (0.5 + 0.5 - 0.25)*1 = 0.75; (0 + 0.2 - 0)*0.5 = 0.1; (1 + 0.3 - 0.3)*0.8 = 0.8
    close(D.usage(u_prev, w_prev, psi), [[0.75, 0.1, 0.8]])


def test_allocation_hand_values():
    """Allocation from the free list, two rows at once."""
    usage = t([[0.4, 0.1, 0.8], [0.0, 1.0, 0.5]])
    # Row 0: free list phi = (1, 0, 2), sorted usage 0.1, 0.4, 0.8.
    #   a[1] = (1 - 0.1) = 0.9; a[0] = (1 - 0.4)*0.1 = 0.06; a[2] = (1 - 0.8)*0.1*0.4 = 0.008.
    # Row 1: phi = (0, 2, 1), sorted 0, 0.5, 1: a[0] = 1; a[2] = 0.5*0 = 0; a[1] = 0*0*0.5 = 0.
    close(D.allocation(usage), [[0.06, 0.9, 0.008], [1.0, 0.0, 0.0]])


def test_allocation_ties_and_full_memory():
    """All locations free: everything goes to location 0 (ties by index); all used: nothing is allocated."""
    close(D.allocation(torch.zeros(2, 4)), [[1.0, 0.0, 0.0, 0.0]] * 2)
    close(D.allocation(torch.ones(1, 4)), [[0.0] * 4])


def test_allocation_gradient_flows_through_usage_not_the_sort():
    """sum_j a_j = 1 - prod_j u_j, so d(sum a)/du_k = -prod_{j != k} u_j; the gradient reaches u in its own order."""
    usage = t([[0.4, 0.1, 0.8]]).requires_grad_()
    D.allocation(usage).sum().backward()
    # -(0.1*0.8) = -0.08, -(0.4*0.8) = -0.32, -(0.4*0.1) = -0.04
    close(usage.grad, [[-0.08, -0.32, -0.04]])
    # a[1] = 1 - u[1] alone (location 1 is first on the free list): da[1]/du = (0, -1, 0).
    usage.grad = None
    D.allocation(usage)[0, 1].backward()
    close(usage.grad, [[0.0, -1.0, 0.0]])


def test_allocation_gradcheck():
    """float64 gradcheck of the allocation on distinct usages (no ties), batch 3, N = 5."""
    g = torch.Generator().manual_seed(0)
    usage = torch.rand(3, 5, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(D.allocation, (usage,))


# ---------------------------------------------------------------- write


def test_write_weighting_hand_values():
    """w^w = g^w [g^a a + (1 - g^a) c] with g^a = 0.25, g^w = 0.8."""
    a, c = t([[0.6, 0.4, 0.0]]), t([[0.2, 0.3, 0.5]])
    # g^a a + (1 - g^a) c = (0.15 + 0.15, 0.1 + 0.225, 0 + 0.375) = (0.3, 0.325, 0.375); times 0.8:
    close(D.write_weighting(a, c, t([[0.25]]), t([[0.8]])), [[0.24, 0.26, 0.3]])


def test_memory_update_hand_values():
    """M = M_prev (1 - w^w e^T) + w^w v^T, done by the NTM's single-head write with the DNC's shapes."""
    memory = t([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]]).mT  # one row per location, stored [batch, W, N]
    w, erase, v = t([[0.5, 0.0, 1.0]]), t([[1.0, 0.5]]), t([[10.0, -2.0]])
    # row 0: (1*(1 - 0.5), 2*(1 - 0.25)) + 0.5*(10, -2) = (0.5, 1.5) + (5, -1) = (5.5, 0.5)
    # row 1: w = 0, unchanged; row 2: (5*0, 6*0.5) + (10, -2) = (10, 1)
    out = A.write(memory, w.unsqueeze(1), erase.unsqueeze(1), v.unsqueeze(1))
    close(out.mT, [[[5.5, 0.5], [3.0, 4.0], [10.0, 1.0]]])


# ---------------------------------------------------------------- temporal links


def test_precedence_hand_values():
    """p = (1 - sum w^w) p_prev + w^w with sum w^w = 0.6."""
    # 0.4*(0.5, 0.25, 0) + (0, 0.4, 0.2) = (0.2, 0.5, 0.2)
    close(D.precedence(t([[0.5, 0.25, 0.0]]), t([[0.0, 0.4, 0.2]])), [[0.2, 0.5, 0.2]])


def test_link_matrix_hand_values():
    """L[i, j] = (1 - w_i - w_j) L_prev[i, j] + w_i p_prev[j], diagonal 0."""
    link_prev = t([[[0.0, 0.5, 0.1], [0.2, 0.0, 0.3], [0.4, 0.1, 0.0]]])
    w, p_prev = t([[0.5, 0.25, 0.0]]), t([[0.2, 0.4, 0.4]])
    # i=0: L[0,1] = (1 - 0.5 - 0.25)*0.5 + 0.5*0.4 = 0.325; L[0,2] = (1 - 0.5)*0.1 + 0.5*0.4 = 0.25
    # i=1: L[1,0] = (1 - 0.25 - 0.5)*0.2 + 0.25*0.2 = 0.1; L[1,2] = (1 - 0.25)*0.3 + 0.25*0.4 = 0.325
    # i=2: L[2,0] = (1 - 0.5)*0.4 = 0.2; L[2,1] = (1 - 0.25)*0.1 = 0.075
    # Without the mask L[0,0] would be 0.5*0.2 = 0.1 and L[1,1] 0.25*0.4 = 0.1.
    expected = [[[0.0, 0.325, 0.25], [0.1, 0.0, 0.325], [0.2, 0.075, 0.0]]]
    close(D.link_matrix(link_prev, w, p_prev), expected)


def test_links_record_the_order_of_one_hot_writes():
    """Writing locations 2, 0, 1 in turn links 0 after 2 and 1 after 0; forward and backward follow them."""
    link, p = torch.zeros(1, 4, 4), torch.zeros(1, 4)
    for loc in (2, 0, 1):
        w = torch.zeros(1, 4)
        w[0, loc] = 1.0
        link = D.link_matrix(link, w, p)
        p = D.precedence(p, w)
    expected = torch.zeros(1, 4, 4)
    expected[0, 0, 2] = expected[0, 1, 0] = 1.0
    close(link, expected)
    close(p, [[0.0, 1.0, 0.0, 0.0]])
    # Head 0 at location 2, head 1 at location 0.
    read_prev = t([[[0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]]])
    forward, backward = D.directional_weightings(link, read_prev)
    close(forward, [[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]])  # 2 -> 0, 0 -> 1
    close(backward, [[[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]])  # nothing before 2; 0 <- 2


def test_directional_weightings_hand_values():
    """f = L w and b = L^T w for two heads at once."""
    link = t([[[0.0, 0.6, 0.2], [0.1, 0.0, 0.5], [0.3, 0.4, 0.0]]])
    read_prev = t([[[0.2, 0.8, 0.0], [0.0, 0.0, 1.0]]])
    forward, backward = D.directional_weightings(link, read_prev)
    # head 0, f[i] = sum_j L[i,j] w[j]: 0.6*0.8 = 0.48; 0.1*0.2 = 0.02; 0.3*0.2 + 0.4*0.8 = 0.38
    # head 1 (w = e_2): column 2 of L = (0.2, 0.5, 0)
    close(forward, [[[0.48, 0.02, 0.38], [0.2, 0.5, 0.0]]])
    # head 0, b[i] = sum_j L[j,i] w[j]: 0.1*0.8 = 0.08; 0.6*0.2 = 0.12; 0.2*0.2 + 0.5*0.8 = 0.44
    # head 1: row 2 of L = (0.3, 0.4, 0)
    close(backward, [[[0.08, 0.12, 0.44], [0.3, 0.4, 0.0]]])


# ---------------------------------------------------------------- read


def test_read_weighting_modes_are_backward_content_forward():
    """pi[0] weighs backward, pi[1] content, pi[2] forward."""
    backward = t([[[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]])
    content = t([[[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
    forward = t([[[0.0, 0.0, 1.0], [0.2, 0.2, 0.2]]])
    modes = t([[[0.2, 0.3, 0.5], [0.5, 0.5, 0.0]]])
    # head 0: one-hot b, c, f pick out pi itself; head 1: 0.5*(0.5, 0.5, 0) + 0.5*(0, 0, 1) = (0.25, 0.25, 0.5)
    close(D.read_weighting(backward, content, forward, modes), [[[0.2, 0.3, 0.5], [0.25, 0.25, 0.5]]])


# ---------------------------------------------------------------- properties over random steps


def random_write(batch: int, n: int, g: torch.Generator) -> torch.Tensor:
    """A write weighting that sums to at most one: a distribution scaled by a gate in [0, 1]."""
    return torch.rand(batch, 1, generator=g) * torch.softmax(3 * torch.randn(batch, n, generator=g), -1)


def test_memory_bookkeeping_properties_over_random_steps():
    """Ten random steps, batch 4, N = 6, R = 3: usage, allocation, precedence, links and read weights stay in range."""
    g = torch.Generator().manual_seed(0)
    batch, n, r = 4, 6, 3
    u, p, link = torch.zeros(batch, n), torch.zeros(batch, n), torch.zeros(batch, n, n)
    w_write, w_read = torch.zeros(batch, n), torch.zeros(batch, r, n)
    for _ in range(10):
        free = torch.rand(batch, r, generator=g)
        u = D.usage(u, w_write, D.retention(free, w_read))
        assert ((u >= 0) & (u <= 1)).all()
        a = D.allocation(u)
        assert ((a >= 0) & (a <= 1)).all()
        assert (a.sum(-1) <= 1 + 1e-6).all()
        content = torch.softmax(torch.randn(batch, n, generator=g), -1)
        w_write = D.write_weighting(a, content, torch.rand(batch, 1, generator=g), torch.rand(batch, 1, generator=g))
        assert (w_write >= 0).all() and (w_write.sum(-1) <= 1 + 1e-6).all()
        link = D.link_matrix(link, w_write, p)
        p = D.precedence(p, w_write)
        assert (p >= 0).all() and (p.sum(-1) <= 1 + 1e-6).all()
        assert (link >= 0).all()
        assert torch.equal(torch.diagonal(link, dim1=1, dim2=2), torch.zeros(batch, n))
        assert (link.sum(-1) <= 1 + 1e-6).all() and (link.sum(-2) <= 1 + 1e-6).all()
        forward, backward = D.directional_weightings(link, w_read)
        modes = torch.softmax(torch.randn(batch, r, 3, generator=g), -1)
        w_read = D.read_weighting(backward, torch.softmax(torch.randn(batch, r, n, generator=g), -1), forward, modes)
        assert (w_read >= 0).all() and (w_read.sum(-1) <= 1 + 1e-5).all()
    assert link.sum() > 0  # the steps really wrote links


def test_model_state_properties_on_random_inputs():
    """Twelve steps of a DNC on random inputs: the carried state keeps every documented range."""
    model = small_dnc("lstm", memory_n=5, read_heads=3)
    _, state = model(random_inputs(12, 4, seed=3))
    assert ((state.usage >= 0) & (state.usage <= 1)).all()
    assert (state.write_weights >= 0).all() and (state.write_weights.sum(-1) <= 1 + 1e-5).all()
    assert (state.precedence >= 0).all() and (state.precedence.sum(-1) <= 1 + 1e-5).all()
    assert torch.equal(torch.diagonal(state.link, dim1=1, dim2=2), torch.zeros(4, 5))
    assert (state.link >= 0).all()
    assert (state.link.sum(-1) <= 1 + 1e-5).all() and (state.link.sum(-2) <= 1 + 1e-5).all()
    assert (state.read_weights >= 0).all() and (state.read_weights.sum(-1) <= 1 + 1e-5).all()
    assert state.link.sum() > 0 and state.usage.sum() > 0  # the steps really wrote


# ---------------------------------------------------------------- the module


@pytest.mark.parametrize("controller", CONTROLLERS)
def test_output_and_state_shapes(controller):
    """Batch 3, N = 6, W = 3, R = 2: logits [T, B, out] and every state tensor has its documented shape."""
    model = small_dnc(controller)
    logits, state = model(random_inputs(4, 3))
    assert logits.shape == (4, 3, 5)
    assert isinstance(state, DNCState)
    assert state.reads.shape == (3, 2, 3)  # [batch, R, W]
    assert state.memory.shape == (3, 3, 6)  # [batch, W, N]
    assert state.read_weights.shape == (3, 2, 6)  # [batch, R, N]
    for name in ("write_weights", "usage", "precedence"):
        assert getattr(state, name).shape == (3, 6), name
    assert state.link.shape == (3, 6, 6)
    if controller == "lstm":
        assert [s.shape for s in state.controller] == [(3, 8), (3, 8)]
    else:
        assert state.controller == ()
    assert model.output.in_features == 8 + 2 * 3
    assert model.interface.out_features == 2 * 3 + 3 * 3 + 5 * 2 + 3
    assert torch.isfinite(logits).all()


def test_initial_state_values():
    """Learned read vectors, memory 1e-6 everywhere, usage, precedence, links and weightings zero."""
    model = small_dnc()
    state = model.initial_state(2)
    close(state.reads, model.initial_reads.detach().expand(2, -1, -1))
    assert state.reads.requires_grad
    assert torch.equal(state.memory, torch.full((2, 3, 6), 1e-6))
    for name in ("read_weights", "write_weights", "usage", "precedence", "link"):
        assert not getattr(state, name).any(), name
    assert model.double().initial_state(1).memory.dtype == torch.float64


def scripted_dnc(vector: list[float]) -> DNC:
    """A DNC whose interface ignores the controller (bias only): it always writes ``vector`` to the
    allocated location (write and allocation gates ~1, erase ~1, free gates ~0) and reads by content
    with ``vector`` as key (read mode content ~1, strength ~51). N = 5, W = 3, R = 1.
    """
    model = DNC(2, 2, controller="feedforward", hidden_size=4, memory_n=5, memory_m=3, read_heads=1)
    w = 3
    # Offsets for R = 1, W = 3: read key 0..2, read strength 3, write key 4..6, write strength 7,
    # erase 8..10, write vector 11..13, free gate 14, allocation gate 15, write gate 16, read modes 17..19.
    bias = torch.zeros(D.interface_size(1, w))
    bias[0:3] = torch.tensor(vector)
    bias[3] = 50.0
    bias[8:11] = 50.0
    bias[11:14] = torch.tensor(vector)
    bias[14] = -50.0
    bias[15] = bias[16] = 50.0
    bias[17 + D.CONTENT] = 50.0
    with torch.no_grad():
        model.interface.weight.zero_()
        model.interface.bias.copy_(bias)
    return model


def test_step_allocates_writes_links_and_reads_back():
    """Step 1 writes v to free location 0 and reads it back from M_t; step 2, with location 0 now used,
    writes v to location 1, links 1 after 0, and its content read splits between the two copies.
    """
    v = [1.0, -1.0, 0.5]  # cosine with the 1e-6 rows is 0.5 / (1.5 sqrt 3) ~ 0.19, far below 1
    model = scripted_dnc(v)
    x = torch.randn(1, 2)
    _, s1 = model.step(x, model.initial_state(1))
    e = torch.eye(5)
    close(s1.usage, torch.zeros(1, 5))  # u_1 is built from w^w_0 = 0
    close(s1.write_weights, e[:1], atol=1e-5)
    close(s1.memory[0, :, 0], v, atol=1e-5)
    close(s1.memory[0, :, 1:], torch.zeros(3, 4), atol=1e-5)  # 1e-6 everywhere else
    close(s1.read_weights, e[:1].unsqueeze(0), atol=1e-5)
    close(s1.reads, [[v]], atol=1e-5)
    close(s1.precedence, e[:1], atol=1e-5)
    close(s1.link, torch.zeros(1, 5, 5))

    _, s2 = model.step(x, s1)
    close(s2.usage, e[:1], atol=1e-5)  # location 0 written at step 1 and not freed
    close(s2.write_weights, e[1:2], atol=1e-5)
    close(s2.memory[0, :, :2].mT, [v, v], atol=1e-5)
    close(s2.link[0, 1, 0], 1.0, atol=1e-5)
    close(s2.link.sum(), 1.0, atol=1e-5)
    close(s2.precedence, e[1:2], atol=1e-5)
    close(s2.read_weights, [[[0.5, 0.5, 0.0, 0.0, 0.0]]], atol=1e-5)
    close(s2.reads, [[v]], atol=1e-5)


@pytest.mark.parametrize("controller", CONTROLLERS)
def test_module_keeps_no_state_between_calls(controller):
    """Two forward calls on the same input give identical logits."""
    model = small_dnc(controller)
    x = random_inputs(5, 3)
    assert torch.equal(model(x)[0], model(x)[0])


def test_state_can_be_carried_across_calls():
    """Running a sequence in two halves, passing the state on, equals running it whole."""
    model = small_dnc("lstm")
    x = random_inputs(6, 3)
    whole, whole_state = model(x)
    head, state = model(x[:3])
    tail, tail_state = model(x[3:], state)
    torch.testing.assert_close(torch.cat([head, tail]), whole)
    for a, b in zip(tail_state[1:], whole_state[1:], strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("controller", CONTROLLERS)
def test_batch_rows_are_independent(controller):
    """Row 1 of a batch of 3 gives the same logits as a batch of 1 holding only row 1."""
    model = small_dnc(controller)
    x = random_inputs(6, 3)
    together, _ = model(x)
    alone, _ = model(x[:, 1:2])
    torch.testing.assert_close(together[:, 1:2], alone, atol=1e-6, rtol=1e-5)
    changed = x.clone()
    changed[:, 0] += 1.0
    torch.testing.assert_close(model(changed)[0][:, 1:], together[:, 1:], atol=1e-6, rtol=1e-5)


def test_step_argument_replaces_self_step():
    """forward(step=model.step) equals forward(); a given step is called once per time step."""
    model = small_dnc("lstm")
    assert model.stepwise  # the trainer compiles ``step`` only for models that declare it
    x = random_inputs(5, 2)
    calls = []

    def counting_step(inp, state):
        calls.append(inp.shape)
        return model.step(inp, state)

    expected, _ = model(x)
    torch.testing.assert_close(model(x, step=model.step)[0], expected, atol=0, rtol=0)
    torch.testing.assert_close(model(x, step=counting_step)[0], expected, atol=0, rtol=0)
    assert calls == [(2, 4)] * 5


@pytest.mark.parametrize("controller", CONTROLLERS)
def test_gradients_reach_every_parameter(controller):
    """After one backward pass every parameter has a finite, non-zero gradient."""
    model = small_dnc(controller)
    logits, _ = model(random_inputs(3, 2))
    (logits * torch.randn(logits.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("controller", CONTROLLERS)
def test_model_gradcheck(controller):
    """float64 gradcheck of three DNC steps (N=4, W=3, R=2, hidden 5, batch 2) w.r.t. the inputs and a
    random starting state whose usages are distinct, so the free-list sort has no ties.
    """
    torch.manual_seed(0)
    model = DNC(3, 2, controller=controller, hidden_size=5, memory_n=4, memory_m=3, read_heads=2).double()
    g = torch.Generator().manual_seed(1)
    batch, n, r = 2, 4, 2

    def rand(*shape):
        return torch.rand(*shape, generator=g, dtype=torch.float64)

    x = random_inputs(3, batch, size=3, dtype=torch.float64)
    memory = torch.randn(batch, 3, n, generator=g, dtype=torch.float64)  # [batch, W, N]
    usage = rand(batch, n)
    assert (usage.sort(-1).values.diff(dim=-1) > 1e-3).all()
    write_weights = 0.9 * torch.softmax(rand(batch, n), -1)
    read_weights = torch.softmax(rand(batch, r, n), -1)
    precedence = 0.5 * torch.softmax(rand(batch, n), -1)
    link = 0.2 * rand(batch, n, n) * (1 - torch.eye(n, dtype=torch.float64))
    inputs = [a.requires_grad_() for a in (x, memory, usage, write_weights, read_weights, precedence, link)]

    def run(x, memory, usage, write_weights, read_weights, precedence, link):
        start = model.initial_state(batch)._replace(
            memory=memory,
            usage=usage,
            write_weights=write_weights,
            read_weights=read_weights,
            precedence=precedence,
            link=link,
        )
        logits, state = model(x, start)
        return logits, state.memory, state.usage, state.link, state.read_weights

    assert torch.autograd.gradcheck(run, inputs)

"""unroll with sequence lengths (no step past a sequence's end) and with chunks of steps per call: the same
results as the plain padded run."""

from __future__ import annotations

import pytest
import torch

from ntm_cli.models.dnc import DNC
from ntm_cli.models.ntm import NTM
from ntm_cli.models.recurrent import Chunked, map_states, multi_step
from ntm_cli.tasks import CopyTask, masked_bce_bits

SIZES = dict(controller="lstm", hidden_size=12, memory_n=10, memory_m=6, read_heads=2)
MODELS = {
    "ntm": lambda: NTM(9, 8, write_heads=1, memory_init="learned", memory_init_value=0.5, **SIZES),
    "dnc": lambda: DNC(9, 8, **SIZES),
}


def _batch():
    return CopyTask(min_len=1, max_len=5).sample(7, torch.Generator().manual_seed(4))


@pytest.mark.parametrize("name", list(MODELS))
def test_skipping_the_padding_changes_no_output_and_no_gradient(name):
    torch.manual_seed(0)
    model = MODELS[name]().double()
    batch = _batch()
    inputs = batch.inputs.double()
    assert len(set(batch.steps.tolist())) > 2, "the batch must mix lengths"

    def run(**kw):
        model.zero_grad()
        logits, state = model(inputs, **kw)
        masked_bce_bits(logits, batch).sum().backward()
        return logits, state, [p.grad.clone() for p in model.parameters()]

    padded, _, padded_grads = run()
    ragged, _, ragged_grads = run(lengths=batch.steps)
    inside = batch.mask.bool()
    torch.testing.assert_close(ragged[inside], padded[inside])
    for a, b in zip(ragged_grads, padded_grads, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", list(MODELS))
def test_the_state_returned_is_each_sequences_own_at_its_end(name):
    torch.manual_seed(0)
    model = MODELS[name]().double()
    batch = _batch()
    _, state = model(batch.inputs.double(), lengths=batch.steps)
    for b, n in enumerate(batch.steps.tolist()):
        _, alone = model(batch.inputs[:n, b : b + 1].double())
        mine = map_states(lambda s, b=b: s[b : b + 1], state)
        map_states(lambda x, y: torch.testing.assert_close(x, y) or x, mine, alone)


def test_steps_run_only_on_the_sequences_still_going():
    model = MODELS["ntm"]()
    batch = _batch()
    rows = []

    def counting_step(x, state):
        rows.append(x.shape[0])
        return model.step(x, state)

    logits, _ = model(batch.inputs, step=counting_step, lengths=batch.steps)
    assert sum(rows) == int(batch.steps.sum()) < batch.inputs.shape[0] * batch.inputs.shape[1]
    assert rows == sorted(rows, reverse=True) and rows[0] == 7
    assert logits.shape == (batch.inputs.shape[0], 7, 8)


def test_time_steps_past_every_sequences_end_give_zero_features():
    """Inputs longer than every sequence: the extra steps run nothing and give the output layer's bias."""
    torch.manual_seed(0)
    model = MODELS["ntm"]().double()
    batch = _batch()
    longer = torch.cat([batch.inputs, torch.zeros(3, *batch.inputs.shape[1:])]).double()
    logits, _ = model(longer, lengths=batch.steps)
    padded, _ = model(batch.inputs.double(), lengths=batch.steps)
    torch.testing.assert_close(logits[: batch.inputs.shape[0]], padded)
    torch.testing.assert_close(logits[-3:], model.output.bias.expand(3, 7, 8))


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("size", [1, 3, 4, 13])
def test_chunks_of_steps_give_the_same_outputs_and_gradients(name, size):
    """A ``Chunked`` step (here uncompiled) pads the 11 time steps to a multiple of its size and drops the padding."""
    torch.manual_seed(0)
    model = MODELS[name]().double()
    batch = _batch()
    inputs = batch.inputs.double()
    calls = []

    def counted(xs, state):
        calls.append(xs.shape[0])
        return multi_step(model.step)(xs, state)

    def run(**kw):
        model.zero_grad()
        logits, _ = model(inputs, **kw)
        masked_bce_bits(logits, batch).sum().backward()
        return logits, [p.grad.clone() for p in model.parameters()]

    plain, plain_grads = run()
    chunked, chunked_grads = run(step=Chunked(counted, size))
    assert calls == [size] * -(-inputs.shape[0] // size)
    assert chunked.shape == plain.shape
    torch.testing.assert_close(chunked, plain)
    for a, b in zip(chunked_grads, plain_grads, strict=True):
        torch.testing.assert_close(a, b)

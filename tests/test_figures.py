"""ntm_cli/figures.py: the arrays behind the memory figures (not their pixels), and ``ntm eval eval.figures=true``."""

from __future__ import annotations

import sys

import pytest
import torch
from conftest import evaluate_run

from ntm_cli import checkpoint, compose, figures, train
from ntm_cli.config import typed_eval
from ntm_cli.errors import ConfigError
from ntm_cli.evaluation import load_model
from ntm_cli.models.dnc import DNC
from ntm_cli.models.ntm import NTM
from ntm_cli.tasks.copy import CopyTask

PNG = b"\x89PNG\r\n\x1a\n"
# A logit that saturates a sigmoid or softmax: sigmoid(30) = 1 - 1e-13.
BIG = 30.0
# A head "writes to one location" when that location holds more than half its weighting: then the peak is
# unique, and most of what the head writes lands there.
SHARP = 0.5


def copy_episode(length: int, width: int = 8):
    """One copy episode of ``length`` vectors (2 length + 1 steps), as ``figures.first_episode`` gives it."""
    return figures.first_episode(
        CopyTask(width=width).sample(3, torch.Generator().manual_seed(0), min_len=length, max_len=length)
    )


def peaks(weights: torch.Tensor) -> list[int]:
    """The location of each step's peak, for weightings [T, N]; every peak must be sharp."""
    top, where = weights.max(-1)
    assert (top > SHARP).all(), f"weightings not focused on one location: peaks {top.tolist()}"
    return where.tolist()


def assert_one_way(locations: list[int], n: int) -> None:
    """Consecutive locations differ by +1 mod n throughout, or by -1 mod n throughout."""
    moves = {(b - a) % n for a, b in zip(locations[:-1], locations[1:], strict=True)}
    assert moves in ({1}, {n - 1}), f"locations {locations} do not move one step at a time in one direction"


def assert_weightings(trace: figures.Trace, exact: bool) -> None:
    """Non-negative weightings that sum to 1 over locations (``exact``: the NTM's) or to at most 1 (the DNC's)."""
    for weights in (trace.write_weights, trace.read_weights):
        assert (weights >= 0).all()
        sums = weights.sum(-1)
        assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5) if exact else (sums <= 1 + 1e-5).all()


# -- shapes and invariants, on untrained models -------------------------------------------------------------------


def test_ntm_trace_shapes_and_weightings():
    torch.manual_seed(0)
    model = NTM(9, 8, hidden_size=8, memory_n=10, memory_m=4, read_heads=2, write_heads=3)
    episode = copy_episode(4)  # 9 steps
    trace = figures.trace(model, episode)
    shapes = {name: tuple(getattr(trace, name).shape) for name in ("inputs", "targets", "outputs", "mask")}
    assert shapes == {"inputs": (9, 9), "targets": (9, 8), "outputs": (9, 8), "mask": (9,)}
    assert (trace.write_weights.shape, trace.read_weights.shape) == ((3, 9, 10), (2, 9, 10))
    assert (trace.adds.shape, trace.memory.shape) == ((3, 9, 4), (10, 4))
    assert trace.usage is None and trace.link is None
    assert_weightings(trace, exact=True)
    logits, _ = model(episode.inputs)  # the trace's steps are the model's own forward pass
    assert torch.allclose(trace.outputs, torch.sigmoid(logits[:, 0]), atol=1e-6)
    assert model.training, "trace leaves the model in the mode it found it in"


def test_dnc_trace_shapes_and_weightings():
    torch.manual_seed(0)
    model = DNC(9, 8, hidden_size=8, memory_n=10, memory_m=4, read_heads=2)
    trace = figures.trace(model, copy_episode(4))
    assert (trace.write_weights.shape, trace.read_weights.shape) == ((1, 9, 10), (2, 9, 10))
    assert (trace.memory.shape, trace.usage.shape, trace.link.shape) == ((10, 4), (10,), (10, 10))
    assert trace.adds is None
    assert_weightings(trace, exact=False)
    assert ((trace.usage >= 0) & (trace.usage <= 1)).all()
    assert ((trace.link >= 0) & (trace.link <= 1 + 1e-6)).all() and (trace.link.diagonal() == 0).all()


def test_ntm_adds_are_what_each_step_wrote():
    """With the erase gates shut (e = 0), eq. (4) alone changes memory: M_T = M_0 + sum_t sum_h w_h,t a_h,t^T."""
    torch.manual_seed(1)
    heads, m = 2, 4
    model = NTM(9, 8, hidden_size=8, memory_n=10, memory_m=m, read_heads=1, write_heads=heads)
    with torch.no_grad():
        for h in range(heads):  # per write head [erase M, add M], after every head's addressing
            erase = slice(model._address_width + 2 * m * h, model._address_width + 2 * m * h + m)
            model.head_params.weight[erase] = 0.0
            model.head_params.bias[erase] = -BIG
    trace = figures.trace(model, copy_episode(4))
    expected = model.memory_init_value + torch.einsum("htn,htm->nm", trace.write_weights, trace.adds)
    assert torch.allclose(trace.memory, expected, atol=1e-5)
    assert trace.adds.abs().max() > 0.05, "the adds are the controller's, not zero"


def test_shifting_heads_draw_one_diagonal_band():
    """Heads that ignore content (g = 0) and shift by +1 (a sharp s, large gamma) move one location a step from
    their initial focus on location 0: the band the figure shows, by construction."""
    model = NTM(9, 8, hidden_size=8, memory_n=8, memory_m=4)
    fields = model._address_sizes  # key, beta, g, shift, gamma, per head
    head = torch.cat([torch.zeros(fields[0] + 1), torch.tensor([-BIG, -BIG, -BIG, BIG, BIG])])  # shift +1
    with torch.no_grad():
        model.head_params.weight.zero_()
        model.head_params.bias[: model._address_width] = head.repeat(2)
    trace = figures.trace(model, copy_episode(4))  # 9 steps: wraps around the 8 locations
    for weights in (trace.write_weights[0], trace.read_weights[0]):
        locations = peaks(weights)
        assert locations == [(t + 1) % 8 for t in range(9)]
        assert_one_way(locations, 8)


def test_dnc_usage_and_links_follow_its_writes():
    """With the free gates shut (psi = 1) and the write and allocation gates open, allocation writes each step to
    the least used location, one-hot: 0, 1, 2, ... Then, by the DNC's equations:

    - usage: u_t = (u_{t-1} + w_{t-1} - u_{t-1} w_{t-1}) psi_t = 1 - prod_{s<t} (1 - w_s) >= w_s for every s < t,
      so every location written before the last step has usage 1; usage lags one step (u_t comes from w_{t-1}),
      so the last step's location is still unused;
    - links: L[i, j] = 1 where location i was written right after location j, 0 elsewhere.
    """
    torch.manual_seed(0)
    r, w = 2, 4
    model = DNC(9, 8, hidden_size=8, memory_n=12, memory_m=w, read_heads=r)
    free = r * w + r + 3 * w + 1  # the interface's order: read keys, strengths, write key, strength, erase, v, free
    with torch.no_grad():
        for rows, bias in ((slice(free, free + r), -BIG), (slice(free + r, free + r + 2), BIG)):  # free; alloc, gate
            model.interface.weight[rows] = 0.0
            model.interface.bias[rows] = bias
    trace = figures.trace(model, copy_episode(4))  # 9 steps, 12 locations
    written = peaks(trace.write_weights[0])
    assert written == list(range(9)) and (trace.write_weights[0].max(-1).values > 0.99).all()
    assert (trace.usage >= trace.write_weights[0, :-1].max(0).values - 1e-6).all()
    assert (trace.usage[written[:-1]] > 0.99).all() and trace.usage[written[-1]] < 0.01
    later, earlier = written[1:], written[:-1]
    assert (trace.link[later, earlier] > 0.99).all()
    assert trace.link.sum() == pytest.approx(len(later), abs=1e-3), "no other links"


# -- a copy NTM trained until solved --------------------------------------------------------------------------------

# Copy of 1-4 vectors into 8 locations: solved (0.01 bit errors per sequence on the validation set) at step 275 of
# seed 1, about 9 s on one CPU thread; seeds 0-3 of these settings solved at steps 275-600.
SOLVES = [
    "experiment=debug",
    "seed=1",
    "task.max_len=4",
    "task.width=4",
    "model.memory_n=8",
    "model.memory_m=6",
    "controller.hidden_size=16",
    "optimizer.lr=0.02",
    "train.steps=1500",
    "train.batch_size=16",
    "train.eval_every=25",
    "train.log_every=25",
    "train.checkpoint_every=10000",
    "train.val_sequences=64",
    "train.target_bit_errors=0.01",
]


@pytest.fixture(scope="module")
def solved_copy(tmp_path_factory) -> NTM:
    run_dir = tmp_path_factory.mktemp("figures") / "run"
    result = train(compose("train", SOLVES), run_dir)
    assert result.metrics.get("solved_at_step") is not None, f"copy not solved: {result.metrics['validation']}"
    source = checkpoint.in_run(str(run_dir), "best.pt")
    cfg = typed_eval(compose("eval", [f"checkpoint={run_dir}"]))
    _, model, _, _ = load_model(cfg, checkpoint.load(source), source, torch.device("cpu"))
    return model


def test_solved_copy_writes_one_band_and_reads_it_back_in_order(solved_copy, tmp_path):
    length = 4
    episode = copy_episode(length, width=4)
    trace = figures.trace(solved_copy, episode)
    assert ((trace.outputs > 0.5).float() == trace.targets)[trace.mask == 1].all(), "the model copies this episode"
    written = peaks(trace.write_weights[0, :length])  # the input phase: steps 0 .. L-1 show the vectors
    assert_one_way(written, solved_copy.memory_n)
    assert peaks(trace.read_weights[0, trace.mask == 1]) == written  # the output phase reads them back in order
    assert figures.draw(trace, "solved copy", tmp_path / "copy.png").read_bytes()[:8] == PNG


# -- ntm eval eval.figures=true -------------------------------------------------------------------------------------


def test_eval_draws_each_rows_first_sequence(trained_run, tmp_path):
    plain = evaluate_run(trained_run, "eval.lengths=[4]", out=tmp_path / "plain")
    drawn = evaluate_run(trained_run, "eval.lengths=[4]", "eval.figures=true", out=tmp_path / "drawn")
    pictures = sorted((tmp_path / "drawn" / "figures").iterdir())
    assert [p.name for p in pictures] == ["length_1-3.png", "length_4.png"]  # the training range, then length 4
    assert all(p.stat().st_size > 1000 and p.read_bytes()[:8] == PNG for p in pictures)
    assert (
        f"drew the first sequence of each row into {tmp_path / 'drawn' / 'figures'}"
        in (tmp_path / "drawn" / "eval.log").read_text()
    )
    assert not (tmp_path / "plain" / "figures").exists()
    assert drawn.result["rows"] == plain.result["rows"], "drawing leaves the measured sequences as they were"


def test_first_episode_is_cut_to_its_own_steps():
    batch = CopyTask().sample(5, torch.Generator().manual_seed(3), min_len=1, max_len=6)
    episode = figures.first_episode(batch)
    steps = int(batch.steps[0])
    assert episode.inputs.shape == (steps, 1, 9) and episode.mask.shape == (steps, 1)
    assert torch.equal(episode.targets[:, 0], batch.targets[:steps, 0])


def test_figures_without_matplotlib_fail_before_evaluating(trained_run, ntm, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    evals = trained_run / "eval"
    before = set(evals.iterdir()) if evals.exists() else set()
    code, _, err = ntm("eval", f"checkpoint={trained_run}", "eval.figures=true", "eval.num_sequences=4")
    assert code == 2
    assert err.strip().splitlines() == [
        "ntm eval: error: eval.figures=true needs matplotlib, which is not installed: "
        'pip install matplotlib (or pip install -e ".[plot]")'
    ]
    assert (set(evals.iterdir()) if evals.exists() else set()) == before, "nothing was evaluated or written"


def test_figures_of_a_model_without_memory_are_refused(tmp_path):
    run = train(compose("train", ["experiment=debug", "model=lstm", "task.max_len=3"]), tmp_path / "lstm")
    with pytest.raises(ConfigError, match="eval.figures=true draws the memory of an ntm or dnc model"):
        evaluate_run(run.run_dir, "eval.figures=true", out=tmp_path / "eval")
    assert not (tmp_path / "eval").exists()

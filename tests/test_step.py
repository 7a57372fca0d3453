"""One training step (``TrainStep``): a non-finite step is skipped without waiting for the device."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import config

from ntm_cli import step as step_module
from ntm_cli.config import typed_train
from ntm_cli.errors import DivergedError
from ntm_cli.optim import OptimizerConfig, build_optimizer, skips_on_device
from ntm_cli.training import prepare

# torch has a fused Adam for CPU tensors from 2.4 (for CUDA ones since 2.0).
FUSED_ADAM_ON_CPU = torch.__version__ >= "2.4"


def _run(tmp_path, optimizer: str = "adam", *extra: str):
    small = not any(e.startswith("task=") for e in extra)
    return prepare(typed_train(config(f"optimizer={optimizer}", "device=cpu", *extra, small=small)), tmp_path / "run")


def _step(run):
    parts = run.parts
    return parts.step(parts.task.sample(4, parts.data))


def _snapshot(run) -> tuple[dict, dict]:
    return copy.deepcopy(run.parts.model.state_dict()), copy.deepcopy(run.parts.optimizer.state_dict())


def _poison_cost(monkeypatch) -> None:
    """Makes the next steps' cost non-finite (as an overflowing model would)."""
    real = step_module.masked_bce_bits
    monkeypatch.setattr(step_module, "masked_bce_bits", lambda logits, batch: real(logits, batch) * float("inf"))


def test_adam_is_fused_where_torch_has_it():
    params = [torch.nn.Parameter(torch.zeros(3))]
    assert skips_on_device(build_optimizer(OptimizerConfig(name="adam"), params)) == FUSED_ADAM_ON_CPU
    assert not skips_on_device(build_optimizer(OptimizerConfig(name="rmsprop"), params))


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_a_non_finite_step_changes_no_weight_and_no_optimizer_state(tmp_path, monkeypatch, optimizer):
    run = _run(tmp_path, optimizer)
    for _ in range(2):
        sums = _step(run)
        assert sums[-1] == 1 and torch.isfinite(sums).all()
    model, opt = _snapshot(run)
    with monkeypatch.context() as m:
        _poison_cost(m)
        for _ in range(3):
            assert torch.equal(_step(run), torch.zeros(4))  # nothing to average from a skipped step
    after_model, after_opt = _snapshot(run)
    assert all(torch.equal(model[k], after_model[k]) for k in model)
    for k, state in opt["state"].items():
        assert all(torch.equal(v, after_opt["state"][k][name]) for name, v in state.items())
    assert (run.parts.step.bad.item(), run.parts.step.bad_in_a_row.item()) == (3, 3)
    _step(run)  # a good step applies, and ends the run of bad ones
    assert run.parts.step.bad_in_a_row.item() == 0
    assert not all(torch.equal(model[k], v) for k, v in run.parts.model.state_dict().items())
    run.check_bad_steps()
    assert (run.progress.skipped_steps, run.parts.step.bad.item()) == (3, 0)


def test_check_bad_steps_stops_a_run_after_max_bad_steps_in_a_row(tmp_path, monkeypatch):
    run = _run(tmp_path, "adam", "train.max_bad_steps=2")
    _poison_cost(monkeypatch)
    _step(run)
    run.check_bad_steps()  # one in a row: goes on
    _step(run)
    with pytest.raises(DivergedError, match="2 steps in a row had a non-finite loss"):
        run.check_bad_steps()


class _SyncProbe:
    """Records every read of a floating-point or bool tensor's value into Python (a device-to-host sync on a
    GPU). Integer CPU tensors (the batch's lengths) are host data and are not recorded."""

    METHODS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__")

    def __init__(self, monkeypatch):
        self.reads: list[str] = []
        for name in self.METHODS:
            real = getattr(torch.Tensor, name)
            monkeypatch.setattr(torch.Tensor, name, self._wrap(name, real))

    def _wrap(self, name, real):
        def probe(tensor, *args, **kwargs):
            if tensor.is_floating_point() or tensor.dtype == torch.bool:
                self.reads.append(f"{name} of a {tensor.dtype} tensor")
            return real(tensor, *args, **kwargs)

        return probe


@pytest.mark.skipif(not FUSED_ADAM_ON_CPU, reason="this torch has no fused Adam for the CPU")
def test_an_adam_step_reads_nothing_back_from_the_device(tmp_path, monkeypatch):
    run = _run(tmp_path)
    batch = run.parts.task.sample(4, run.parts.data)
    run.parts.step(batch)
    with monkeypatch.context() as m:
        probe = _SyncProbe(m)
        run.parts.step(batch)
        _poison_cost(m)
        run.parts.step(batch)
    assert probe.reads == []


def test_the_sync_probe_sees_the_rmsprop_steps_one_check(tmp_path, monkeypatch):
    """RMSProp has no device-side skip, so its step reads the finiteness flag once: the probe must see it."""
    run = _run(tmp_path, "rmsprop")
    batch = run.parts.task.sample(4, run.parts.data)
    with monkeypatch.context() as m:
        probe = _SyncProbe(m)
        run.parts.step(batch)
    assert probe.reads == ["__bool__ of a torch.bool tensor"]


@pytest.mark.parametrize(("task", "best_step"), [("copy", 2), ("ngram", 3)])
def test_best_checkpoint_is_the_lowest_bit_errors_or_for_ngrams_the_lowest_cost(tmp_path, monkeypatch, task, best_step):
    """Validation 2 has the fewest bit errors, validation 3 the lowest cost: copy keeps 2, n-grams keep 3."""
    from ntm_cli import metrics
    from ntm_cli.sinks import Sinks

    sizes = ["task=ngram", "task.context=2", "task.length=20"] if task == "ngram" else []
    run = _run(tmp_path, "adam", *sizes)
    results = iter([(140.0, 50.0), (139.0, 47.0), (134.0, 48.0)])

    def measure(*args, **kwargs):
        cost, errors = next(results)
        return {"cost_bits_per_sequence": cost, "bit_errors_per_sequence": errors}

    monkeypatch.setattr(metrics, "measure", measure)
    sinks = Sinks(tmp_path / "run", 3, 0, False, None)
    for step in (1, 2, 3):
        run.progress.step = step
        run.validate(sinks)
    sinks.close()
    assert run.progress.best["step"] == best_step
    saved = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)
    assert saved["step"] == best_step

"""One training step (``Trainer.train_step``): a non-finite step is skipped without waiting for the device."""

from __future__ import annotations

import copy

import pytest
import torch
from omegaconf import OmegaConf

from ntm_cli import train as train_module
from ntm_cli.config import typed_train_config
from ntm_cli.factory import build_optimizer, skips_on_device
from ntm_cli.train import Trainer

# torch has a fused Adam for CPU tensors from 2.4 (for CUDA ones since 2.0).
FUSED_ADAM_ON_CPU = torch.__version__ >= "2.4"

SMALL = {
    "task": {"name": "copy", "max_len": 3},
    "model": {"name": "ntm", "memory_n": 8, "memory_m": 4},
    "controller": {"hidden_size": 8},
    "train": {"batch_size": 4, "compile": False},
    "device": {"name": "cpu", "threads": 1},
}


def _trainer(tmp_path, optimizer: str = "adam") -> Trainer:
    cfg = typed_train_config(OmegaConf.merge(SMALL, {"optimizer": {"name": optimizer}}))
    return Trainer(cfg, tmp_path)


def _snapshot(trainer: Trainer) -> tuple[dict, dict]:
    return copy.deepcopy(trainer.model.state_dict()), copy.deepcopy(trainer.optimizer.state_dict())


def _poison_cost(monkeypatch) -> None:
    """Makes the next steps' cost non-finite (as an overflowing model would)."""
    real = train_module.masked_bce_bits
    monkeypatch.setattr(train_module, "masked_bce_bits", lambda logits, batch: real(logits, batch) * float("inf"))


def test_adam_is_fused_where_torch_has_it():
    params = [torch.nn.Parameter(torch.zeros(3))]
    adam = build_optimizer(OmegaConf.create({"name": "adam", "lr": 0.1, "betas": [0.9, 0.999], "eps": 1e-8}), params)
    rmsprop = build_optimizer(
        OmegaConf.create({"name": "rmsprop", "lr": 0.1, "momentum": 0.9, "alpha": 0.95, "eps": 1e-8}), params
    )
    assert skips_on_device(adam) == FUSED_ADAM_ON_CPU
    assert not skips_on_device(rmsprop)


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_a_non_finite_step_changes_no_weight_and_no_optimizer_state(tmp_path, monkeypatch, optimizer):
    trainer = _trainer(tmp_path, optimizer)
    for _ in range(2):
        sums = trainer.train_step()
        assert sums[3] == 1 and torch.isfinite(sums).all()
    model, opt = _snapshot(trainer)
    with monkeypatch.context() as m:
        _poison_cost(m)
        for _ in range(3):
            assert torch.equal(trainer.train_step(), torch.zeros(4))  # nothing to average from a skipped step
    after_model, after_opt = _snapshot(trainer)
    assert all(torch.equal(model[k], after_model[k]) for k in model)
    for k, state in opt["state"].items():
        assert all(torch.equal(v, after_opt["state"][k][name]) for name, v in state.items())
    assert (trainer.bad_steps.item(), trainer.bad_in_a_row.item()) == (3, 3)
    trainer.train_step()  # a good step applies, and ends the run of bad ones
    assert trainer.bad_in_a_row.item() == 0
    assert not all(torch.equal(model[k], v) for k, v in trainer.model.state_dict().items())
    trainer.check_bad_steps()
    assert (trainer.skipped, trainer.bad_steps.item()) == (3, 0)


def test_check_bad_steps_stops_a_run_after_max_bad_steps_in_a_row(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path)
    trainer.cfg.train.max_bad_steps = 2
    _poison_cost(monkeypatch)
    trainer.train_step()
    trainer.check_bad_steps()  # one in a row: goes on
    trainer.train_step()
    with pytest.raises(train_module.DivergedError, match="2 steps in a row had a non-finite loss"):
        trainer.check_bad_steps()


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
    trainer = _trainer(tmp_path)
    trainer.train_step()
    with monkeypatch.context() as m:
        probe = _SyncProbe(m)
        trainer.train_step()
        _poison_cost(m)
        trainer.train_step()
    assert probe.reads == []


def test_the_sync_probe_sees_the_rmsprop_steps_one_check(tmp_path, monkeypatch):
    """RMSProp has no device-side skip, so its step reads the finiteness flag once: the probe must see it."""
    trainer = _trainer(tmp_path, "rmsprop")
    with monkeypatch.context() as m:
        probe = _SyncProbe(m)
        trainer.train_step()
    assert probe.reads == ["__bool__ of a torch.bool tensor"]


@pytest.mark.parametrize(("task", "best_step"), [("copy", 2), ("ngram", 3)])
def test_best_checkpoint_is_the_lowest_bit_errors_or_for_ngrams_the_lowest_cost(tmp_path, monkeypatch, task, best_step):
    """Validation 2 has the fewest bit errors, validation 3 the lowest cost: copy keeps 2, n-grams keep 3."""
    from torch.utils.tensorboard import SummaryWriter

    from ntm_cli.evaluate import Metrics

    sizes = {"name": "ngram", "context": 2, "length": 20} if task == "ngram" else SMALL["task"]
    cfg = typed_train_config({**SMALL, "task": sizes})
    trainer = Trainer(cfg, tmp_path)
    results = iter([Metrics(140.0, 50.0), Metrics(139.0, 47.0), Metrics(134.0, 48.0)])
    monkeypatch.setattr(trainer, "validate", lambda: next(results))
    with SummaryWriter(str(tmp_path / "tb")) as writer:
        for step in (1, 2, 3):
            trainer.step = step
            trainer.after_validation(writer)
    assert trainer.best["step"] == best_step
    saved = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)
    assert saved["step"] == best_step

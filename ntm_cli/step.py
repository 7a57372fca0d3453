"""One training step: forward, cost, backward, clipping, the optimizer; compiled where asked. No host sync."""

from __future__ import annotations

import math
import warnings

import torch

from ntm_cli import metrics
from ntm_cli.models.recurrent import Chunked, StepFn, multi_step
from ntm_cli.optim import skips_on_device
from ntm_cli.tasks.base import Batch, Task, masked_bce_bits


def compiled_step(step: StepFn, steps: int, device: torch.device) -> StepFn | Chunked:
    """``step`` compiled for one static shape; with ``steps`` > 1, ``steps`` time steps per call.

    On the CPU the compiled code is called from a C++ wrapper rather than
    inductor's Python one (``cpp_wrapper``): a longer compile, cheaper calls.
    """
    options = {"cpp_wrapper": True} if device.type == "cpu" else None
    # Inductor's own lowering of ``diagonal`` (the DNC's link) calls a torch helper it deprecates itself.
    warnings.filterwarnings("ignore", message=r"`torch\._prims_common\.check` is deprecated", category=FutureWarning)
    if steps == 1:
        return torch.compile(step, dynamic=False, options=options)
    return Chunked(torch.compile(multi_step(step), dynamic=False, options=options), steps)


class TrainStep:
    """Trains ``model`` on one batch per call and returns the step's metric sums for ``metrics.TrainSums``.

    A step whose loss or gradient is not finite is skipped (the weights and the
    optimizer's state stay as they were) and counted on the device; ``bad_steps``
    reads the counts (a host sync, done at logging steps).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        task: Task,
        device: torch.device,
        *,
        clip_grad_norm: float | None,
        clip_grad_value: float | None,
        step_fn: StepFn | Chunked | None = None,
    ) -> None:
        self.model, self.optimizer, self.task = model, optimizer, task
        self.clip_grad_norm, self.clip_grad_value = clip_grad_norm, clip_grad_value
        self.step_fn = step_fn
        self.sequence_metrics = metrics.sequence_metrics(metrics.TRAIN, task)
        self.skips_on_device = skips_on_device(optimizer)
        self.bad = torch.zeros((), dtype=torch.int64, device=device)  # skipped since the last read
        self.bad_in_a_row = torch.zeros((), dtype=torch.int64, device=device)

    def __call__(self, batch: Batch) -> torch.Tensor:
        """One optimizer step; returns [SEQUENCE sums..., grad norm, 1], or zeros where the step was skipped."""
        # Eager steps skip each sequence's padding (``lengths``, on the CPU: no sync). A compiled
        # step keeps the whole batch: one static graph, where every narrower batch would compile anew.
        lengths = batch.steps if self.step_fn is None else None
        batch = batch.to(self.bad.device)
        logits, _ = self.model(batch.inputs, step=self.step_fn, lengths=lengths)
        cost = masked_bce_bits(logits, batch)
        self.optimizer.zero_grad(set_to_none=True)
        cost.mean().backward()
        if self.clip_grad_value is not None:
            torch.nn.utils.clip_grad_value_(self.model.parameters(), self.clip_grad_value)
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm or math.inf)
        sums = metrics.sums(self.sequence_metrics, logits.detach(), batch, self.task)
        ok = torch.isfinite(norm) & torch.isfinite(sums).all()
        if self.skips_on_device:  # a non-finite step never reaches the weights, and nothing waits for the device
            self.optimizer.found_inf = (~ok).to(torch.float32)
            self.optimizer.step()
        elif bool(ok):  # an optimizer with no device-side skip: one host sync (free on the CPU)
            self.optimizer.step()
        bad = (~ok).to(torch.int64)
        self.bad.add_(bad)
        self.bad_in_a_row.add_(1).mul_(bad)
        out = torch.cat([sums, torch.stack([norm.to(sums.dtype), ok.to(sums.dtype)])])
        return torch.where(ok, out, torch.zeros_like(out))

    def bad_steps(self) -> tuple[int, int]:
        """(steps skipped since the last call, skipped in a row now); resets the first."""
        bad, in_a_row = self.bad.item(), self.bad_in_a_row.item()
        self.bad.zero_()
        return bad, in_a_row

"""Where a run's metrics go, by name: TensorBoard (``train/NAME``, ``val/NAME``), the progress bar and the log.

Besides the metrics, TensorBoard shows what a memory model does, at validations (``Sinks.memory``): the
heads' gate and sharpening values over one fixed validation episode as histograms (``heads/...``), and that
episode's memory figure (``figures.render``) as the image ``memory/episode``. ``write_hparams`` keeps the
run's settings and final metrics in ``tb/hparams`` for TensorBoard's HParams tab.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from ntm_cli import metrics
from ntm_cli.config import format_value
from ntm_cli.figures import Trace, trace
from ntm_cli.models import addressing
from ntm_cli.models.dnc import DNC, split_interface
from ntm_cli.models.ntm import NTM
from ntm_cli.tasks.base import Batch

log = logging.getLogger(__name__)

_PREFIX = {metrics.TRAIN: "train", metrics.VALIDATION: "val"}
MEMORY_IMAGE = "memory/episode"  # the image tag of the memory figure
HPARAMS_FOLDER = "hparams"  # under tb/: the run's HParams session, rewritten by each write_hparams


class Sinks:
    """TensorBoard events in ``run_dir/tb`` and a tqdm bar (when ``progress``) for steps ``initial..total``.

    On a resume (``resumed_at``), events a crashed run logged after its last
    checkpoint, which follows its step's events, are dropped.
    """

    def __init__(self, run_dir: Path, total: int, initial: int, progress: bool, resumed_at: int | None) -> None:
        purge = None if resumed_at is None else resumed_at + 1
        self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=purge)
        self.bar = tqdm(total=total, initial=initial, unit="step", disable=not progress, dynamic_ncols=True)

    def step(self) -> None:
        self.bar.update(1)

    def write(self, phase: str, step: int, values: dict[str, float]) -> None:
        """Each value to TensorBoard under its name; the short-named ones to the bar; validations to the log."""
        for name, value in values.items():
            self.writer.add_scalar(f"{_PREFIX[phase]}/{name}", value, step)
        if phase == metrics.TRAIN:
            shown = {metrics.BY_NAME[n].short: v for n, v in values.items() if metrics.BY_NAME[n].short}
            self.bar.set_postfix({k: f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}" for k, v in shown.items()})
        else:
            log.info("step %d: validation %s", step, metrics.format_values(values))

    def memory(self, step: int, heads: dict[str, torch.Tensor], image: np.ndarray | None) -> None:
        """A validation's view of the memory: each head value's histogram (``heads/NAME``, from ``trace_heads``; its
        finite values) and, where given, the memory figure ``image`` [height, width, 3] (uint8 RGB) as
        ``memory/episode``."""
        for name, values in heads.items():
            finite = values[values.isfinite()]
            if finite.numel():  # a diverging model's may be all NaN, and TensorBoard takes no empty histogram
                self.writer.add_histogram(f"heads/{name}", finite, step)
        if image is not None:
            self.writer.add_image(MEMORY_IMAGE, image, step, dataformats="HWC")

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.bar.close()
        self.writer.close()


def has_memory(model: torch.nn.Module) -> bool:
    """Whether ``model`` has a memory that ``trace_heads`` and the figures show (an NTM or a DNC)."""
    return isinstance(model, (NTM, DNC))


def trace_heads(model: NTM | DNC, episode: Batch) -> tuple[Trace, dict[str, torch.Tensor]]:
    """``figures.trace`` of one episode, with the heads' values at each of its T steps, read off the layer that
    computes them from the controller output (a forward hook; the model is not changed):

    NTM: ``read_gate``, ``write_gate`` (the interpolation gate g: 1 addresses by content, 0 keeps the last
    weighting) and ``read_gamma``, ``write_gamma`` (the sharpening gamma >= 1), [T, heads of the kind] each;
    DNC: ``write_gate``, ``allocation_gate`` [T] and ``free_gate`` [T, read heads]. All on the CPU.
    """
    layer = model.head_params if isinstance(model, NTM) else model.interface
    outputs: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda module, args, out: outputs.append(out.detach()))
    try:
        traced = trace(model, episode)
    finally:
        hook.remove()
    steps = episode.inputs.shape[0]
    raw = torch.cat(outputs[:steps]).float().cpu()  # one call per step (the NTM's figure makes one more after)
    if isinstance(model, DNC):
        xi = split_interface(raw, model.read_heads, model.memory_m)
        return traced, {
            "write_gate": xi.write_gate[:, 0],
            "allocation_gate": xi.allocation_gate[:, 0],
            "free_gate": xi.free_gates,
        }
    sizes = model._address_sizes  # key, beta, g, shift, gamma: the split NTM.step makes
    heads = model.read_heads + model.write_heads
    parts = raw[:, : heads * sum(sizes)].view(steps, heads, sum(sizes)).split(sizes, dim=-1)
    _, _, gate, _, gamma = addressing.head_activations(*parts)
    read = slice(0, model.read_heads)  # read heads first, as in NTM.step
    write = slice(model.read_heads, heads)
    return traced, {
        "read_gate": gate[:, read, 0],
        "read_gamma": gamma[:, read, 0],
        "write_gate": gate[:, write, 0],
        "write_gamma": gamma[:, write, 0],
    }


# TensorBoard's hparams status of a run, by its metrics.json status (stopped by a signal: it may be continued).
_STATUS = {
    "running": "STATUS_RUNNING",
    "done": "STATUS_SUCCESS",
    "diverged": "STATUS_FAILURE",
    "stopped": "STATUS_UNKNOWN",
}


def hparam_value(value: Any) -> float | str:
    """A setting as the HParams tab takes it: numbers as they are, anything else as the command line writes it
    (true, null, [10,20])."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return format_value(value)


def write_hparams(tb: Path, hparams: dict[str, Any], final: dict[str, float], status: str, step: int) -> Path:
    """The run's HParams session in ``tb/hparams``: its settings ``hparams`` and, as scalars at ``step``, its final
    metrics ``final`` (named as in metrics.json), with its status (a metrics.json status: running, done, ...).

    The folder is rewritten at every call (a run writes it as it ends), so it holds the latest call's values
    only, across resumes too: TensorBoard keeps the first settings it reads for a run, and a run's own ``tb/``
    keeps every event, so a resumed run's settings (train.steps) could not replace the first part's there.
    Settings: numbers, or strings (``hparam_value``); metrics that are None are left out. Returns the folder.
    """
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.plugins.hparams.api_pb2 import Status
    from tensorboard.plugins.hparams.metadata import PLUGIN_DATA_VERSION, PLUGIN_NAME, SESSION_END_INFO_TAG
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData, SessionEndInfo
    from torch.utils.tensorboard.summary import hparams as hparams_summaries

    folder = tb / HPARAMS_FOLDER
    before = list(folder.glob("events.out.tfevents.*")) if folder.is_dir() else []
    settings = {k: hparam_value(v) for k, v in hparams.items()}
    final = {k: v for k, v in final.items() if v is not None}
    # The session's start (its settings) from torch; no experiment summary: TensorBoard takes one run's as
    # the whole experiment's, while without one it joins every run's settings and metrics (a sweep's runs
    # change different settings). The end, with the run's status, here: torch's says "success" always.
    _, start, _ = hparams_summaries(settings, final)
    end = HParamsPluginData(
        session_end_info=SessionEndInfo(status=Status.Value(_STATUS[status]), end_time_secs=time.time()),
        version=PLUGIN_DATA_VERSION,
    )
    metadata = SummaryMetadata(
        plugin_data=SummaryMetadata.PluginData(plugin_name=PLUGIN_NAME, content=end.SerializeToString())
    )
    with SummaryWriter(str(folder)) as writer:
        writer.file_writer.add_summary(start, step)
        for name, value in final.items():
            writer.add_scalar(name, value, step)
        writer.file_writer.add_summary(
            Summary(value=[Summary.Value(tag=SESSION_END_INFO_TAG, metadata=metadata)]), step
        )
    for old in before:
        old.unlink(missing_ok=True)
    return folder

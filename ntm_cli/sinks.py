"""Where a run's metrics go, by name: TensorBoard (``train/NAME``, ``val/NAME``), the progress bar and the log."""

from __future__ import annotations

import logging
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from ntm_cli import metrics

log = logging.getLogger(__name__)

_PREFIX = {metrics.TRAIN: "train", metrics.VALIDATION: "val"}


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

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.bar.close()
        self.writer.close()

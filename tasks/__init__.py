"""Task generators: the registry from a task's name to its generator class."""

from __future__ import annotations

from tasks.base import Batch, bit_errors, masked_bce_bits
from tasks.copy import CopyTask

TASKS: dict[str, type] = {
    "copy": CopyTask,
}

__all__ = ["TASKS", "Batch", "CopyTask", "bit_errors", "masked_bce_bits"]

"""Task generators: the registry from a task's name to its generator class."""

from __future__ import annotations

from tasks.associative_recall import AssociativeRecallTask
from tasks.base import Batch, bit_errors, masked_bce_bits
from tasks.copy import CopyTask
from tasks.ngram import NgramTask
from tasks.priority_sort import PrioritySortTask
from tasks.repeat_copy import RepeatCopyTask

TASKS: dict[str, type] = {
    cls.name: cls for cls in (CopyTask, RepeatCopyTask, AssociativeRecallTask, NgramTask, PrioritySortTask)
}

__all__ = [
    "TASKS",
    "AssociativeRecallTask",
    "Batch",
    "CopyTask",
    "NgramTask",
    "PrioritySortTask",
    "RepeatCopyTask",
    "bit_errors",
    "masked_bce_bits",
]

"""The adaptive curriculum: which ranges it scales, how the level moves, and a real run."""

import json

import pytest
import torch
from conftest import run, tb_scalars

from ntm_cli import curriculum
from ntm_cli.tasks import TASKS


def test_ranges_are_the_min_max_pairs_of_each_task():
    assert curriculum.ranges(TASKS["copy"]()) == {"len": (1, 20)}
    assert curriculum.ranges(TASKS["repeat_copy"]()) == {"len": (1, 10), "repeats": (1, 10)}
    assert curriculum.ranges(TASKS["associative_recall"]()) == {"items": (2, 6)}
    assert curriculum.ranges(TASKS["ngram"]()) == {}


@pytest.mark.parametrize("level, maximum", [(0.0, 1), (0.3, 4), (0.5, 6), (0.9, 9)])
def test_overrides_scale_every_maximum_from_its_minimum(level, maximum):
    """Repeat copy, both ranges 1-10: 1 + floor(level * 9 + 1/2), e.g. 0.5 -> 1 + floor(5.0) = 6."""
    assert curriculum.overrides(TASKS["repeat_copy"](), level) == {"max_len": maximum, "max_repeats": maximum}


def test_level_one_is_the_task_as_configured():
    assert curriculum.overrides(TASKS["copy"](), 1.0) == {}


def test_the_level_advances_only_at_or_below_the_threshold_and_stops_at_one():
    assert curriculum.advance(0.2, 0.1, bit_errors=0.05, threshold=0.1) == pytest.approx(0.3)
    assert curriculum.advance(0.2, 0.1, bit_errors=0.1, threshold=0.1) == pytest.approx(0.3)
    assert curriculum.advance(0.2, 0.1, bit_errors=0.2, threshold=0.1) == 0.2
    assert curriculum.advance(0.95, 0.1, bit_errors=0.0, threshold=0.1) == 1.0
    level = 0.0
    for _ in range(10):
        level = curriculum.advance(level, 0.1, bit_errors=0.0, threshold=0.1)
    assert level == 1.0  # not 0.9999999999999999, which would keep the curriculum on


def test_a_run_with_a_curriculum_widens_the_ranges_and_records_the_level(tmp_path):
    """A threshold every model meets raises the level at each of the 3 logging intervals."""
    args = ["task.max_len=7", "model.memory_n=14"]
    curriculum_args = ["train.curriculum.enabled=true", "train.curriculum.step=0.25", "train.curriculum.threshold=1000"]
    run(tmp_path, *args, *curriculum_args)
    log = (tmp_path / "run" / "train.log").read_text()
    assert "curriculum level 0.25: task.max_len=3" in log  # 1 + floor(0.25 * 6 + 1/2) = 1 + 2
    assert "curriculum level 0.75: task.max_len=6" in log  # 1 + floor(0.75 * 6 + 1/2) = 1 + 5
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["curriculum_level"] == 0.75


def test_a_full_share_draws_full_batches_at_that_rate_and_only_under_level_one():
    generator = torch.Generator().manual_seed(0)
    draws = [curriculum.full_batch(0.25, 0.5, generator) for _ in range(4000)]
    assert 0.22 < sum(draws) / len(draws) < 0.28
    assert not any(curriculum.full_batch(0.25, 1.0, generator) for _ in range(100))


def test_without_a_full_share_the_random_stream_is_untouched():
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    assert not curriculum.full_batch(0.0, 0.5, generator)
    assert torch.equal(generator.get_state(), state)


def test_with_a_full_share_the_level_advances_on_the_batches_at_the_level(tmp_path):
    """At level 0 every sequence has length 1, so at most 8 bit errors: the threshold 8 is met by those
    batches; the full-range batches (lengths 1-7, about 4 errors per vector untrained) would not meet it."""
    args = ["task.max_len=7", "model.memory_n=14", "train.steps=40", "train.log_every=20"]
    curriculum_args = [
        "train.curriculum.enabled=true",
        "train.curriculum.step=0.25",
        "train.curriculum.threshold=8",
        "train.curriculum.full_share=0.5",
    ]
    run(tmp_path, *args, *curriculum_args)
    log = (tmp_path / "run" / "train.log").read_text()
    assert "curriculum level 0.25: task.max_len=3" in log
    mixed = dict(tb_scalars(tmp_path / "run")["train/bit_errors_per_sequence"])
    assert mixed[20] > 8  # the steps of both kinds together would not have advanced it

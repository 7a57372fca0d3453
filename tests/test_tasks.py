"""What every task generator promises: the registry, seeded draws, and sizes the model can use."""

import pytest
import torch

from ntm_cli.tasks import TASKS


@pytest.mark.parametrize("name", list(TASKS))
def test_same_seed_same_batch_and_global_rng_unused(name):
    """The generator alone decides the batch: the global torch seed changes nothing, another seed does."""
    task = TASKS[name]()

    def sample(seed):
        return task.sample(16, torch.Generator().manual_seed(seed))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        a = sample(7)
        torch.manual_seed(2)
        b = sample(7)
    c = sample(8)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("name", list(TASKS))
def test_batch_matches_the_declared_sizes(name):
    """Inputs and targets have the task's channel counts; steps never exceed the padded length."""
    task = TASKS[name]()
    b = task.sample(8, torch.Generator().manual_seed(0))
    assert task.name == name
    assert b.inputs.shape[1:] == (8, task.input_size) and b.targets.shape[1:] == (8, task.output_size)
    assert b.mask.shape == b.inputs.shape[:2] and int(b.steps.max()) == b.inputs.shape[0]
    assert b.mask.sum() > 0


@pytest.mark.parametrize("name", list(TASKS))
def test_nothing_counts_and_nothing_is_shown_after_an_episodes_steps(name):
    """Past ``steps`` an episode is padding: zero inputs, targets and mask (so its steps may be skipped)."""
    b = TASKS[name]().sample(32, torch.Generator().manual_seed(3))
    after = torch.arange(b.inputs.shape[0]).unsqueeze(1) >= b.steps  # [time, batch]
    assert b.mask[after].eq(0).all() and b.inputs[after].eq(0).all() and b.targets[after].eq(0).all()
    last = b.mask.gather(0, (b.steps - 1).unsqueeze(0))  # the last step of each episode is an answer
    assert last.eq(1).all()


def test_each_task_has_the_papers_target_and_judges_a_validation_by_it():
    assert {name: cls.target for name, cls in TASKS.items()} == {
        "copy": ("bit_errors_per_sequence", 0.01),
        "repeat_copy": ("bit_errors_per_sequence", 0.01),
        "associative_recall": ("cost_bits_per_sequence", 1.0),
        "ngram": ("cost_above_optimal_bits_per_sequence", 1.0),
        "priority_sort": ("cost_bits_per_sequence", 18.0),
    }
    copy, recall, sort = TASKS["copy"], TASKS["associative_recall"], TASKS["priority_sort"]
    assert copy.reached_target({"bit_errors_per_sequence": 0.01, "cost_bits_per_sequence": 5.0}) is True
    assert copy.reached_target({"bit_errors_per_sequence": 0.011}) is False
    assert recall.reached_target({"cost_bits_per_sequence": 0.99, "bit_errors_per_sequence": 3.0}) is True
    assert sort.reached_target({"cost_bits_per_sequence": 18.5}) is False
    assert copy.reached_target({"cost_bits_per_sequence": 0.0}) is None, "its figure is missing"
    assert recall.target_text() == "cost_bits_per_sequence <= 1"


def test_ngrams_target_is_the_cost_above_the_optimal_estimators():
    ngram = TASKS["ngram"]
    validation = {"cost_bits_per_sequence": 134.25, "optimal_cost_bits_per_sequence": 133.5}
    assert ngram.target_figure(validation) == pytest.approx(0.75)
    assert ngram.reached_target(validation) is True
    assert ngram.reached_target({**validation, "cost_bits_per_sequence": 134.75}) is False
    assert ngram.reached_target({"cost_bits_per_sequence": 134.0}) is None

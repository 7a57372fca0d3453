"""What a run shows in TensorBoard beyond its metrics: the memory figure and the heads' values at validations,
and its settings with its final metrics for the HParams tab; and that none of it changes what the run trains."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
import torch
from conftest import SMALL, assert_same, config, run, tb_scalars

from ntm_cli import figures, resume, training
from ntm_cli.errors import ConfigError, DivergedError
from ntm_cli.models.dnc import DNC
from ntm_cli.tasks.copy import CopyTask
from ntm_cli.training import train

PNG = b"\x89PNG\r\n\x1a\n"
NTM_HEADS = ("read_gate", "read_gamma", "write_gate", "write_gamma")
DNC_HEADS = ("write_gate", "allocation_gate", "free_gate")
LSTM = ["model=lstm", "model.hidden_size=8", "task.max_len=3"]


def tb_events(run_dir):
    """(images, histograms) of a run's tb/: {tag: [(step, event), ...]}, every one kept."""
    from tensorboard.backend.event_processing.event_accumulator import HISTOGRAMS, IMAGES, EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={IMAGES: 0, HISTOGRAMS: 0})
    acc.Reload()
    tags = acc.Tags()
    images = {tag: [(e.step, e) for e in acc.Images(tag)] for tag in tags["images"]}
    histograms = {tag: [(e.step, e.histogram_value) for e in acc.Histograms(tag)] for tag in tags["histograms"]}
    return images, histograms


def validation_steps(run_dir) -> list[int]:
    return [step for step, _ in tb_scalars(run_dir)["val/cost_bits_per_sequence"]]


def hparams(run_dir):
    """(settings, final metrics {name: (step, value)}, status name) of the run's HParams session, tb/hparams."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import api_pb2, metadata

    acc = EventAccumulator(str(run_dir / "tb" / "hparams"))
    acc.Reload()
    content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
    assert metadata.EXPERIMENT_TAG not in content  # TensorBoard joins every session's settings itself
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    settings = {k: getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
    final = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    return settings, final, api_pb2.Status.Name(end.status)


def assert_final_metrics_are_metrics_json(run_dir) -> dict:
    m = json.loads((run_dir / "metrics.json").read_text())
    _, final, _ = hparams(run_dir)
    expected = {f"{part}.{k}": v for part in ("validation", "best") for k, v in m[part].items()}
    expected |= {k: m[k] for k in ("steps", "solved_at_step") if k in m}
    assert final.keys() == expected.keys()
    for name, value in expected.items():
        assert final[name] == [(m["steps"], pytest.approx(value, rel=1e-6))], name  # float32 in the events
    return m


def test_the_rendered_figure_is_the_one_eval_draws_pixel_for_pixel(tmp_path):
    """figures.render lays the figure out as figures.draw does (a DNC's has every kind of panel)."""
    import numpy as np
    from PIL import Image

    torch.manual_seed(0)
    model = DNC(5, 4, hidden_size=8, memory_n=8, memory_m=4)
    episode = figures.first_episode(CopyTask(width=4).sample(2, torch.Generator().manual_seed(0), max_len=3))
    trace = figures.trace(model, episode)
    pixels = figures.render(trace, "a title")
    drawn = np.asarray(Image.open(figures.draw(trace, "a title", tmp_path / "drawn.png")).convert("RGB"))
    assert pixels.dtype == np.uint8 and pixels.shape == drawn.shape and (pixels == drawn).all()


def test_an_ntm_run_shows_its_memory_and_heads_at_each_validation(tmp_path):
    from PIL import Image

    result = run(tmp_path, "train.figures_every=1")
    images, histograms = tb_events(result.run_dir)
    steps = validation_steps(result.run_dir)
    assert steps == [3, 6]
    assert list(images) == ["memory/episode"]
    assert [step for step, _ in images["memory/episode"]] == steps
    for _, event in images["memory/episode"]:
        assert event.encoded_image_string.startswith(PNG)
        png = Image.open(io.BytesIO(event.encoded_image_string))
        assert png.size == (event.width, event.height) and min(png.size) > 100 and png.mode == "RGB"
    assert sorted(histograms) == sorted(f"heads/{name}" for name in NTM_HEADS)
    for name in NTM_HEADS:
        h = histograms[f"heads/{name}"]
        assert [step for step, _ in h] == steps, name
        for _, value in h:
            assert value.num > 0  # one value a time step of the episode (one head of each kind)
            assert (0 <= value.min <= value.max <= 1) if name.endswith("gate") else value.min >= 1, name


def test_a_dnc_run_shows_its_memory_and_gates(tmp_path):
    result = run(tmp_path, "model=dnc", "train.steps=3", "train.figures_every=1")
    images, histograms = tb_events(result.run_dir)
    assert [step for step, _ in images["memory/episode"]] == validation_steps(result.run_dir) == [3]
    assert sorted(histograms) == sorted(f"heads/{name}" for name in DNC_HEADS)
    for name in DNC_HEADS:
        (_, value), *more = histograms[f"heads/{name}"]
        assert not more and value.num > 0 and 0 <= value.min <= value.max <= 1


def test_an_lstm_run_has_no_memory_to_show_but_its_hparams(tmp_path):
    result = run(tmp_path, *LSTM, "train.figures_every=1", small=False)
    assert tb_events(result.run_dir) == ({}, {})
    settings, _, status = hparams(result.run_dir)
    assert (settings["model"], settings["model.hidden_size"], status) == ("lstm", 8, "STATUS_SUCCESS")
    assert_final_metrics_are_metrics_json(result.run_dir)


def test_figures_every_chooses_the_validations_that_draw(tmp_path):
    """A figure at each multiple of figures_every x eval_every steps (eval_every=3 here); 0 draws none. The
    heads' histograms come at every validation all the same. Below 0 is refused before anything runs."""
    every_other = run(tmp_path, "train.figures_every=2", name="2")
    images, histograms = tb_events(every_other.run_dir)
    assert [step for step, _ in images["memory/episode"]] == [6]
    assert [step for step, _ in histograms["heads/write_gate"]] == [3, 6]
    none = run(tmp_path, "train.figures_every=0", name="0")
    images, histograms = tb_events(none.run_dir)
    assert images == {} and [step for step, _ in histograms["heads/write_gate"]] == [3, 6]
    default = run(tmp_path, name="default")  # train.figures_every=10: none in 6 steps (every 30 here)
    assert tb_events(default.run_dir)[0] == {}
    with pytest.raises(ConfigError, match=r"train.figures_every=-1 must be 0 or more"):
        run(tmp_path, "train.figures_every=-1", name="refused")
    assert not (tmp_path / "refused").exists()


def test_without_matplotlib_a_run_draws_no_figure_and_says_so_once_in_the_debug_log(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    training._can_draw.cache_clear()
    try:
        with caplog.at_level(logging.DEBUG, logger="ntm_cli.training"):
            result = run(tmp_path, "train.figures_every=1")
    finally:
        training._can_draw.cache_clear()
    images, histograms = tb_events(result.run_dir)
    assert images == {} and [step for step, _ in histograms["heads/write_gate"]] == [3, 6]
    said = [r for r in caplog.records if "matplotlib is not installed" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.DEBUG


def test_showing_the_memory_changes_nothing_the_run_trains(tmp_path, monkeypatch):
    """A random initial memory draws from torch's global random state, which training uses too: the memory view
    (trace, figure) puts it back, so a run trains the same numbers with it as without it."""
    args = ["model.memory_init=random", "train.figures_every=1"]
    shown = train(config(*args), tmp_path / "shown")
    monkeypatch.setattr(training.Run, "show_memory", lambda self, sinks: None)
    hidden = train(config(*args), tmp_path / "hidden")
    a, b = (torch.load(r.run_dir / "checkpoints" / "last.pt", weights_only=True) for r in (shown, hidden))
    for key in ("model", "optimizer", "rng", "validation"):
        assert_same(a[key], b[key], key)
    assert tb_events(shown.run_dir)[0] and not tb_events(hidden.run_dir)[0]


def test_hparams_hold_the_runs_settings_and_final_metrics(tmp_path):
    """Task, model, seed, lr and batch size, every setting beyond the defaults (numbers as numbers, the rest as the
    command line writes it), and the final metrics of metrics.json; solved_at_step where the target was reached."""
    result = run(tmp_path, "seed=3", "optimizer.lr=0.003", "train.target_bit_errors=1000")
    settings, _, status = hparams(result.run_dir)
    assert {k: settings[k] for k in ("task", "model", "seed", "optimizer.lr", "train.batch_size")} == {
        "task": "copy",
        "model": "ntm",
        "seed": 3,
        "optimizer.lr": pytest.approx(0.003),
        "train.batch_size": 4,
    }
    assert (settings["task.max_len"], settings["train.compile"], settings["train.target_bit_errors"]) == (
        3,
        "false",
        1000,
    )
    assert status == "STATUS_SUCCESS"
    m = assert_final_metrics_are_metrics_json(result.run_dir)
    assert m["solved_at_step"] == 2
    assert len(list((result.run_dir / "tb" / "hparams").iterdir())) == 1  # rewritten, not added to


def test_a_resumed_run_shows_what_a_run_straight_through_shows(tmp_path):
    """12 steps straight == 6, then resumed to 12: the same images (byte for byte) and histograms at the same
    steps, every scalar as test_resume checks; the HParams session is the resumed run's final one."""
    args = [*SMALL, "train.figures_every=2"]
    train(config(*args, "train.steps=12", small=False), tmp_path / "straight")
    train(config(*args, "train.steps=6", small=False), tmp_path / "halves")
    found = resume.resolve(str(tmp_path / "halves"), ["train.steps=12"])
    train(found.config, found.run_dir, checkpoint_state=found.checkpoint)

    (images_a, histograms_a), (images_b, histograms_b) = (tb_events(tmp_path / r) for r in ("straight", "halves"))
    assert [step for step, _ in images_a["memory/episode"]] == [6, 12]
    assert [(s, e.encoded_image_string) for s, e in images_a["memory/episode"]] == [
        (s, e.encoded_image_string) for s, e in images_b["memory/episode"]
    ]
    assert histograms_a.keys() == histograms_b.keys()
    for tag in histograms_a:
        assert [step for step, _ in histograms_a[tag]] == [3, 6, 9, 12], tag
        assert histograms_a[tag] == histograms_b[tag], tag
    a, b = tb_scalars(tmp_path / "straight"), tb_scalars(tmp_path / "halves")
    assert a.keys() == b.keys()
    assert all(a[tag] == b[tag] for tag in a if tag != "train/sequences_per_second")

    settings, final, status = hparams(tmp_path / "halves")
    assert (settings["train.steps"], final["steps"], status) == (12, [(12, 12.0)], "STATUS_SUCCESS")
    assert_final_metrics_are_metrics_json(tmp_path / "halves")
    assert len(list((tmp_path / "halves" / "tb" / "hparams").iterdir())) == 1


def test_a_diverged_run_says_so_in_hparams(tmp_path):
    """Its heads' values may be all NaN by then: a histogram keeps the finite ones, or is left out."""
    diverge = ["optimizer.lr=1e30", "train.clip_grad_norm=null", "train.max_bad_steps=3", "train.steps=100"]
    with pytest.raises(DivergedError):
        run(tmp_path, *diverge)
    settings, final, status = hparams(tmp_path / "run")
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (settings["optimizer.lr"], final["steps"], status) == (1e30, [(m["steps"], m["steps"])], "STATUS_FAILURE")

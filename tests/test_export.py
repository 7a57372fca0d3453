"""``ntm export``: a model's weights and config as a small file that ``ntm eval`` takes and a resume refuses; and the
pretrained models shipped in pretrained/."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import evaluate_run

from ntm_cli import checkpoint, resume
from ntm_cli.errors import CheckpointError, ConfigError
from ntm_cli.export import export

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"


def test_an_exported_model_evaluates_as_its_run_does_and_holds_no_training_state(trained_run, tmp_path):
    out = export(trained_run, tmp_path / "model.pt")
    saved = torch.load(out, weights_only=True)
    assert "optimizer" not in saved and "rng" not in saved and "scheduler" not in saved
    best = checkpoint.load(trained_run / "checkpoints" / "best.pt")
    assert saved["config"] == best["config"] and saved["step"] == best["step"]
    assert all(torch.equal(saved["model"][k], best["model"][k]) for k in best["model"])
    assert out.stat().st_size < (trained_run / "checkpoints" / "best.pt").stat().st_size / 2
    rows = evaluate_run(out, "eval.lengths=[4]", out=tmp_path / "ev1").result["rows"]
    assert rows == evaluate_run(trained_run, "eval.lengths=[4]", out=tmp_path / "ev2").result["rows"]
    with pytest.raises(CheckpointError, match="holds weights only"):
        resume.resolve(str(out))


def test_export_never_replaces_a_file_unless_told(trained_run, tmp_path):
    out = tmp_path / "model.pt"
    out.write_bytes(b"someone's file")
    with pytest.raises(ConfigError, match="exists; give another OUT, or --force"):
        export(trained_run, out)
    assert out.read_bytes() == b"someone's file"
    assert checkpoint.load(export(trained_run, out, force=True))["config"]
    with pytest.raises(ConfigError, match="should end in .pt"):
        export(trained_run, tmp_path / "model.bin")


def test_an_export_with_another_memory_evaluates_as_eval_memory_n_does(ntm, trained_run, tmp_path):
    trained_n = checkpoint.load(trained_run / "checkpoints" / "best.pt")["config"]["model"]["memory_n"]
    larger = 2 * trained_n
    out = export(trained_run, tmp_path / "larger.pt", memory_n=larger)
    saved = checkpoint.load(out)
    assert saved["config"]["model"]["memory_n"] == larger and saved["trained_memory_n"] == trained_n
    assert saved["model"]["initial_weight_logits"].shape[-1] == larger
    rows = evaluate_run(out, "eval.lengths=[4]", out=tmp_path / "ev1").result["rows"]
    wanted = evaluate_run(trained_run, "eval.lengths=[4]", f"eval.memory_n={larger}", out=tmp_path / "ev2")
    assert rows == wanted.result["rows"]
    again = checkpoint.load(export(out, tmp_path / "again.pt", memory_n=trained_n))
    assert again["trained_memory_n"] == trained_n, "the memory it trained with survives a second export"
    code, _, err = ntm("export", str(trained_run), "bad.pt", "--memory-n", "0")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--memory-n is a number of memory locations" in err
    assert not (tmp_path / "bad.pt").exists()


def test_ntm_export_on_the_command_line(ntm, trained_run, tmp_path):
    code, out, err = ntm("export", str(trained_run), "model.pt")
    assert code == 0, err
    assert out.startswith("wrote model.pt (") and "ntm eval checkpoint=model.pt" in out
    code, _, err = ntm("export", str(tmp_path / "missing"), "other.pt")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "does not exist" in err
    assert not (tmp_path / "other.pt").exists()


def test_the_pretrained_models_are_small_and_evaluate(tmp_path):
    files = sorted(PRETRAINED.glob("*.pt"))
    if not files:
        pytest.skip("no models in pretrained/ (kept out of git; docs/pretrained.md says how to make them)")
    assert sum(f.stat().st_size for f in files) < 3 * 2**20
    for f in files:
        ckpt = checkpoint.load(f)
        assert "optimizer" not in ckpt
        result = evaluate_run(f, out=tmp_path / f.stem)
        assert result.status == "done" and result.result["task"] == f.stem

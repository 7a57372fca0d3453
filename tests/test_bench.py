"""Tests of the benchmark (bench/): the FLOP counts against a hand count, and a --quick run end to end."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from ntm_cli.models.dnc import DNC
from ntm_cli.models.ntm import NTM

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_flops():
    """bench/flops.py, loaded from its path (bench/ is a folder of scripts, not an installed package)."""
    spec = importlib.util.spec_from_file_location("bench_flops", BENCH / "flops.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


flops = load_flops()

# A tiny configuration: I 2 inputs, O 3 outputs, H 2 units, N 4 locations of M 3,
# one read head: the controller sees I + R M = 5 inputs, the output layer H + R M = 5.
TINY = dict(controller="lstm", hidden_size=2, memory_n=4, memory_m=3, read_heads=1)


def test_ntm_flops_hand_count():
    """One write head, shifts -1..1 (S 3): K = 2 heads."""
    expected = {
        "controller": 112 + 16 + 8 + 6 + 2 + 2,  # gates 2*8*(5+2), 2 biases 8 each, 4 activations, c, tanh c, h
        "head_params": 2 * 2 * 24 + 24,  # 24 outputs: 2 heads x (key 3 + beta, g, gamma + shift 3) + erase 3 + add 3
        "head_activations": 6 + 2 + 2 + 16 + 4 + 3 + 3,  # tanh key, beta, g, 2 softmaxes over 3 (8 each), gamma, e, a
        "content_addressing": 48 + 14 + 28 + 32 + 22,  # k.M(i), |k| (7 a head), |M(i)| (7 a row), * + / beta, softmax
        "interpolation": 8 + 2 + 8 + 8,  # g w_c, 1 - g, (1 - g) w_prev, the sum
        "shift": 48,  # 3 multiply-adds for each of 4 locations and 2 heads
        "sharpen": 8 + 8 + 8 + 22,  # + eps, log, gamma *, 2 softmaxes over 4 (11 each)
        "write": 12 + 12 + 12 + 24,  # w e, 1 - w e, M * keep, + w a (multiply-adds)
        "read": 24,  # 4 x 3 multiply-adds
        "output": 30 + 3,  # 2 x 5 x 3 + bias
    }
    assert flops.ntm_flops(2, 3, **TINY, write_heads=1, shift_range=1) == expected
    assert sum(expected.values()) == 683


def test_ntm_flops_hand_count_feedforward_many_heads():
    """Feedforward controller, 2 read and 2 write heads, no shift (S 1): K = 4, controller input 2 + 6 = 8."""
    sizes = {**TINY, "controller": "feedforward", "read_heads": 2}
    terms = flops.ntm_flops(2, 3, **sizes, write_heads=2, shift_range=0)
    assert terms["controller"] == 2 * 2 * 8 + 2 + 2  # W x, bias, tanh
    assert terms["head_params"] == 2 * 2 * 40 + 40  # 4 x (3 + 3 + 1) + 2 x 2 x 3 outputs
    assert terms["shift"] == 16  # S = 1: one product per location and head
    assert terms["write"] == 48 + 12 + 12 + 48  # w e and 1 - w e, product of 2 heads, M * keep, + sum of 2 w a
    assert terms["read"] == 48
    assert terms["output"] == 2 * 3 * 8 + 3
    assert sum(terms.values()) == 923


def test_dnc_flops_hand_count():
    """One read head: the interface has 3 + 9 + 5 + 3 = 20 entries."""
    content = 24 + 7 + 28 + 16 + 11  # one key: k.M(i), |k|, |M(i)|, * + / beta, softmax over 4
    expected = {
        "controller": 146,
        "interface": 2 * 2 * 20 + 20,
        "interface_activations": 2 + 2 + 3 + 1 + 1 + 1 + 8,  # read and write oneplus, erase, free, g^a, g^w, modes
        "write_content": content,
        "retention": 4 + 4,  # f w, 1 - f w (a product over one head is no arithmetic)
        "usage": 16,
        "allocation": 3 + 4 + 4,  # cumulative product of 4, 1 - u, the product
        "write_weighting": 4 + 1 + 4 + 4 + 4,  # g^a a, 1 - g^a, (1 - g^a) c, +, g^w *
        "write": 60,
        "link": 16 * 5,  # 1 - w_i - w_j (2), * L, w_i p_j, + for each of the 4 x 4 entries
        "precedence": 3 + 1 + 4 + 4,
        "forward_backward": 2 * 32,  # L w and L^T w: 16 multiply-adds each
        "read_content": content,
        "read_weighting": 4 * 5,  # 3 products and 2 sums a location
        "read": 24,
        "output": 33,
    }
    assert flops.dnc_flops(2, 3, **TINY) == expected
    assert sum(expected.values()) == 781


@pytest.mark.parametrize(
    ("cls", "count", "extra"),
    [(NTM, flops.ntm_flops, {"write_heads": 1, "shift_range": 1}), (DNC, flops.dnc_flops, {})],
)
def test_flops_cover_torchs_matmul_count(cls, count, extra):
    """torch's FlopCounterMode counts only matrix products; at the copy sizes ours includes all of them."""
    sizes = dict(controller="lstm", hidden_size=100, memory_n=128, memory_m=20, read_heads=1, **extra)
    model = cls(9, 8, **sizes)
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(3, 2, 9))  # 3 time steps, batch 2
    assert counter.get_total_flops() / 6 <= sum(count(9, 8, **sizes).values())


def load_bench():
    """bench/bench.py as a module (it imports flops.py from its own folder)."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_main", BENCH / "bench.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_main"] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_a_summary_is_the_median_min_and_max_of_the_repeats():
    bench = load_bench()
    assert bench.summary([3.0, 1.0, 10.0, 2.0]) == {"median": 2.5, "min": 1.0, "max": 10.0, "repeats": 4}
    assert bench.summary([4.0]) == {"median": 4.0, "min": 4.0, "max": 4.0, "repeats": 1}


def test_quick_run_writes_every_section(tmp_path):
    """bench.py --quick end to end: the JSON's sections, and only order and sign checks on the figures."""
    out = tmp_path / "x.json"
    command = [sys.executable, str(BENCH / "bench.py"), "--quick", "--threads", "1", "--out", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Forward FLOPs per time step" in proc.stdout
    r = json.loads(out.read_text())

    assert {"date", "torch", "cpu", "cores", "threads", "device"} <= set(r["environment"])

    for model in ("ntm", "dnc"):
        assert [row["batch"] for row in r["throughput"][model]] == [1, 4]
        assert all(row["sequences_per_second"]["min"] > 0 for row in r["throughput"][model])
        assert r["forward_backward"][model]["ms_per_time_step"]["min"] > 0
        # The count the bench reports is the paper-size model's, as bench/flops.py counts it by hand.
        count = flops.ntm_flops if model == "ntm" else flops.dnc_flops
        extra = {"write_heads": 1, "shift_range": 1} if model == "ntm" else {}
        copy_sizes = dict(controller="lstm", hidden_size=100, memory_n=128, memory_m=20, read_heads=1, **extra)
        assert r["flops"]["models"][model]["forward_per_time_step"] == sum(count(9, 8, **copy_sizes).values())
        # MFU: what the step achieved over the matmul peak, both as the bench measured them.
        mfu = r["mfu"][model]
        achieved, peak = mfu["achieved_gflops"]["median"], r["matmul_peak"]["gflops"]["median"]
        assert mfu["mfu"]["median"] == pytest.approx(achieved / peak) and 0 < mfu["mfu"]["median"] < 1
    assert r["matmul_peak"]["gflops"]["min"] > 0
    assert r["solve"] == r["end_to_end"] == r["side_by_side"] == {"skipped": "--quick"}
    assert r["compile"] == {"skipped": "no --compile"}
    assert [(row["model"], row["batch"]) for row in r["padding"]["rows"]] == [("ntm", 4), ("dnc", 4)]
    assert all(row[k]["min"] > 0 for row in r["padding"]["rows"] for k in ("skipping_padding", "computing_padding"))
    assert "7. Eager training throughput" in proc.stdout

    scaling = r["scaling"]
    assert [p["memory_n"] for p in scaling["memory_n"]] == [64, 128]
    assert [p["length"] for p in scaling["length"]] == [20, 40]
    assert [p["time_steps"] for p in scaling["length"]] == [41, 81]
    for curve, size in (("memory_n", "memory_n"), ("length", "time_steps")):
        first, last = scaling[curve]
        assert last["peak_memory_mib"] > 0
        # The ratio to linear: how much the time grew over how much the size grew.
        time_ratio = last["seconds"]["median"] / first["seconds"]["median"]
        assert last["ratio_over_size_ratio"] == pytest.approx(time_ratio / (last[size] / first[size]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch has CUDA")
def test_the_cuda_check_skips_cleanly_without_cuda(tmp_path):
    """make bench ARGS="--device cuda" on a machine without CUDA: one line saying so, exit 0, nothing written."""
    out = tmp_path / "x.json"
    command = [sys.executable, str(BENCH / "bench.py"), "--device", "cuda", "--out", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and not proc.stderr
    assert proc.stdout.strip().splitlines() == [
        "bench.py: no CUDA GPU visible to this torch: the CUDA check is skipped (run it where there is one)"
    ]
    assert not out.exists()


def test_end_to_end_throughput_counts_the_steps_beyond_a_one_step_run():
    sys.path.insert(0, str(BENCH))
    try:
        import processes
    finally:
        sys.path.remove(str(BENCH))
    # 301 steps of 16 in 31 s, 1 step in 1 s: 300 x 16 sequences in the 30 s between them.
    assert processes.rate(16, 301, 31.0, 1.0) == pytest.approx(160.0)
    command = processes.ours(16, 300, Path("run"))
    assert command[1:4] == ["train", "task=copy", "train.batch_size=16"] and "train.target_bit_errors=null" in command


def test_the_repeat_copy_diagnosis_splits_the_errors_by_repeat(tmp_path):
    from conftest import run

    result = run(tmp_path, "task=repeat_copy", "task.max_len=3", "task.max_repeats=3", small=False)
    out = subprocess.run(
        [
            sys.executable,
            str(BENCH / "repeat_copy_errors.py"),
            str(result.run_dir / "checkpoints" / "last.pt"),
            "--sizes",
            "2x3",
            "--sequences",
            "8",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("length   2 x   3 repeats"))
    data = float(line.split("data ")[1].split(",")[0])
    by_repeat = [float(v) for v in line.split("by repeat: ")[1].split()]
    assert len(by_repeat) == 3 and sum(by_repeat) == pytest.approx(data, abs=0.02)

"""Benchmarks of the NTM and the DNC on copy, printed as a table and written as JSON.

    python bench/bench.py [--device cpu|cuda] [--threads N] [--repeats 5] [--out PATH]
                          [--quick] [--skip-solve] [--compile] [--compile-steps 4]

1. training throughput (sequences/s) on copy batches of lengths 1-20;
2. forward+backward time per time step at batch 1, length 20;
3. forward FLOPs per time step (bench/flops.py), this machine's fp32 matmul
   peak and the model FLOP utilisation (MFU) at the largest batch;
4. time for ``ntm train task=copy`` to solve copy from the process's start, seeds 0-4;
5. scaling of the NTM's step time and peak memory with N and with the length;
6. with --compile, the NTM with a ``torch.compile``d time step: throughput,
   forward+backward per time step at batch 1 and MFU, also with
   ``--compile-steps`` time steps per compiled call;
7. eager throughput with and without skipping each sequence's padding;
8. end-to-end throughput of whole ``ntm train`` processes with the defaults at batch 1, 16 and 128,
   beside the best existing PyTorch implementation with ``--baseline DIR`` (bench/processes.py);
9. two ``ntm train`` runs started together against one alone.

With ``--device cuda`` it runs only a short GPU check: training throughput of the NTM and the DNC,
eager and compiled, at batch 1, 128 and 1024, with the GPU's name (no GPU: it says so and exits 0).

Every timing is the median, min and max of ``--repeats`` repeats after a
warm-up. Both models use the paper's copy sizes (LSTM controller of 100 units,
memory 128 x 20, one read head; the NTM one write head and shifts -1..1).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import processes
import torch
from flops import dnc_flops, ntm_flops
from omegaconf import OmegaConf

from ntm_cli.models.dnc import DNC
from ntm_cli.models.ntm import NTM
from ntm_cli.optim import OptimizerConfig, build_optimizer
from ntm_cli.step import compiled_step
from ntm_cli.tasks import TASKS, masked_bce_bits

INPUT_SIZE, OUTPUT_SIZE = 9, 8  # copy: 8 bits and a delimiter channel
NTM_COPY = dict(
    controller="lstm", hidden_size=100, memory_n=128, memory_m=20, read_heads=1, write_heads=1, shift_range=1
)
DNC_COPY = dict(controller="lstm", hidden_size=100, memory_n=128, memory_m=20, read_heads=1)
MODELS = {"ntm": (NTM, NTM_COPY, ntm_flops), "dnc": (DNC, DNC_COPY, dnc_flops)}
FIXED_LENGTH = 20  # copy length of the fixed-length measurements: 2 L + 1 = 41 time steps
SCALING_BATCH = 16
# The project's training defaults (conf/optimizer/adam.yaml, conf/train.yaml).
LEARNING_RATE, CLIP_GRAD_NORM = 1e-2, 10.0


@dataclass(frozen=True)
class Plan:
    """The sizes one run measures; --quick shrinks every one of them."""

    batch_sizes: tuple[int, ...]
    memory_sizes: tuple[int, ...]
    lengths: tuple[int, ...]
    min_seconds: float  # a repeat runs the measured call until at least this long
    matmul_size: int
    solve_seeds: tuple[int, ...]


def make_plan(quick: bool, device: str) -> Plan:
    if quick:
        return Plan(
            batch_sizes=(1, 4),
            memory_sizes=(64, 128),
            lengths=(20, 40),
            min_seconds=0.0,
            matmul_size=512,
            solve_seeds=(),
        )
    cuda = device == "cuda"
    return Plan(
        batch_sizes=(1, 16, 128, 1024) if cuda else (1, 16, 128),
        memory_sizes=(64, 128, 256, 512, 1024),
        lengths=(20, 100, 500),
        min_seconds=0.5,
        matmul_size=4096 if cuda else 1024,
        solve_seeds=(0, 1, 2, 3, 4),
    )


# -- measuring ------------------------------------------------------------------


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "repeats": len(values)}


def seconds_per_call(fn: Callable[[], object], calls: int, device: torch.device) -> float:
    """Mean wall time of ``calls`` calls of ``fn``, the device synchronised before each clock reading."""
    sync(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    sync(device)
    return (time.perf_counter() - start) / calls


def time_calls(
    fn: Callable[[], object],
    repeats: int,
    min_seconds: float,
    device: torch.device,
    before_repeat: Callable[[], object] = lambda: None,
) -> list[float]:
    """Seconds per call of ``fn``, one value per repeat, after one warm-up call.

    The warm-up sets how many calls a repeat makes: enough to last ``min_seconds``.
    """
    before_repeat()
    calls = max(1, math.ceil(min_seconds / seconds_per_call(fn, 1, device)))
    seconds = []
    for _ in range(repeats):
        before_repeat()
        seconds.append(seconds_per_call(fn, calls, device))
    return seconds


def build(name: str, device: torch.device, **sizes) -> torch.nn.Module:
    cls, config, _ = MODELS[name]
    torch.manual_seed(0)
    return cls(INPUT_SIZE, OUTPUT_SIZE, **{**config, **sizes}).to(device)


def forward_backward(model, batch_size: int, length: int, device: torch.device, step_fn=None):
    """One call = forward and backward on one fixed copy batch of ``length``; returns (call, time steps)."""
    batch = TASKS["copy"](min_len=length, max_len=length).sample(batch_size, torch.Generator().manual_seed(0))
    batch = batch.to(device)

    def call() -> None:
        model.zero_grad(set_to_none=True)
        logits, _ = model(batch.inputs, step=step_fn)
        masked_bce_bits(logits, batch).mean().backward()

    return call, batch.inputs.shape[0]


def throughput(
    name: str, batch_size: int, args, plan: Plan, device: torch.device, step_fn_of=None, skip_padding: bool = True
) -> dict:
    """Sequences per second of full training steps on copy batches of lengths 1-20.

    A step is ``Trainer.train_step``'s: sample, forward, backward, clip the
    gradient norm at 10, Adam. Every repeat draws the same batches. Like
    training, the eager step skips each sequence's padding (``skip_padding``)
    and a compiled one runs the whole batch.

    ``step_fn_of(model)`` gives the ``step=`` for the model's forward (a compiled
    ``model.step``); then the first training step, which compiles, is timed on its own.
    """
    model = build(name, device)
    task = TASKS["copy"](min_len=1, max_len=20)
    adam = OmegaConf.structured(OptimizerConfig(lr=LEARNING_RATE))  # the trainer's Adam: fused where torch has it
    optimizer = build_optimizer(adam, model.parameters())
    generator = torch.Generator()
    step_fn = step_fn_of(model) if step_fn_of else None

    def step() -> None:
        batch = task.sample(batch_size, generator)
        lengths = batch.steps if skip_padding and step_fn is None else None
        batch = batch.to(device)
        logits, _ = model(batch.inputs, step=step_fn, lengths=lengths)
        cost = masked_bce_bits(logits, batch)
        optimizer.zero_grad(set_to_none=True)
        cost.mean().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_GRAD_NORM)
        optimizer.step()

    compile_seconds = seconds_per_call(step, 1, device) if step_fn is not None else None
    seconds = time_calls(step, args.repeats, plan.min_seconds, device, lambda: generator.manual_seed(0))
    out = {"batch": batch_size, "sequences_per_second": summary([batch_size / s for s in seconds])}
    if compile_seconds is not None:
        out["compile_seconds"] = compile_seconds
    return out


# -- the scaling points, each in a fresh process -----------------------------------------


def memory_mib(device: torch.device, peak: bool) -> float:
    """Memory this process holds now, or its peak, in MiB.

    CUDA: torch's allocated memory (its peak since the last reset). CPU: the
    resident set, VmRSS now or VmHWM at its peak, from /proc/self/status (Linux);
    VmHWM rather than getrusage's ru_maxrss, which Linux carries over fork and
    exec, so that in a child of this (large) process it starts at the parent's size.
    """
    if device.type == "cuda":
        return (torch.cuda.max_memory_allocated if peak else torch.cuda.memory_allocated)(device) / 2**20
    field = "VmHWM" if peak else "VmRSS"
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def scaling_point(memory_n: int, length: int, repeats: int, min_seconds: float, device: torch.device) -> dict:
    """Forward+backward of the NTM at batch 16 and its peak memory over what the process held before the model.

    Runs in a fresh process of its own, so that no other measurement's memory counts.
    """
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    base = memory_mib(device, peak=False)
    model = build("ntm", device, memory_n=memory_n)
    call, steps = forward_backward(model, SCALING_BATCH, length, device)
    seconds = time_calls(call, repeats, min_seconds, device)
    return {
        "memory_n": memory_n,
        "length": length,
        "time_steps": steps,
        "seconds": summary(seconds),
        "ms_per_time_step": summary([1e3 * s / steps for s in seconds]),
        "peak_memory_mib": memory_mib(device, peak=True) - base,
    }


def run_scaling_point(memory_n: int, length: int, args, plan: Plan) -> dict:
    point = {"memory_n": memory_n, "length": length, "repeats": args.repeats, "min_seconds": plan.min_seconds}
    command = [sys.executable, __file__, "--device", args.device, "--point", json.dumps(point)]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"scaling point N={memory_n} length={length} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def scaling(args, plan: Plan) -> dict:
    """Two curves through the point (N 128, length 20): N at length 20, length at N 128."""
    measured: dict[tuple[int, int], dict] = {}
    curves = {
        "memory_n": [(n, FIXED_LENGTH) for n in plan.memory_sizes],
        "length": [(128, length) for length in plan.lengths],
    }
    out = {"batch": SCALING_BATCH, "model": "ntm"}
    for curve, points in curves.items():
        rows = []
        for point in points:
            if point not in measured:
                measured[point] = run_scaling_point(*point, args, plan)
            rows.append(dict(measured[point]))
        # size: N, or the time steps 2 L + 1; time: forward+backward of the whole batch.
        size_key = "memory_n" if curve == "memory_n" else "time_steps"
        first = rows[0]
        for row in rows:
            time_ratio = row["seconds"]["median"] / first["seconds"]["median"]
            row["ratio_over_size_ratio"] = time_ratio / (row[size_key] / first[size_key])
        out[curve] = rows
    return out


# -- the sections -------------------------------------------------------------------


def matmul_peak(size: int, args, plan: Plan, device: torch.device) -> dict:
    """fp32 ``torch.mm`` of two size x size matrices: GFLOP/s, 2 size^3 FLOPs a call."""
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, generator=g, device=device)
    b = torch.randn(size, size, generator=g, device=device)
    seconds = time_calls(lambda: torch.mm(a, b), args.repeats, plan.min_seconds, device)
    return {"size": size, "gflops": summary([2 * size**3 / s / 1e9 for s in seconds])}


def environment(args, device: torch.device) -> dict:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    env = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": str(device),
        "repeats": args.repeats,
        "quick": args.quick,
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def forward_flops(name: str) -> int:
    _, config, count = MODELS[name]
    return sum(count(INPUT_SIZE, OUTPUT_SIZE, **config).values())


def step_time_and_mfu(
    name: str, args, plan: Plan, device: torch.device, peak: dict, step_fn_of=None
) -> tuple[dict, dict]:
    """(forward+backward per time step at batch 1, MFU at batch 128 or the largest batch), length 20.

    MFU: forward+backward FLOPs (3x the forward count) per second over the
    matmul peak's median. ``step_fn_of(model)``: a compiled step, compiled
    (and timed apart) for each batch size.
    """
    forward, mfu_batch = forward_flops(name), 128 if 128 in plan.batch_sizes else max(plan.batch_sizes)
    model = build(name, device)
    out = []
    for batch_size in (1, mfu_batch):
        step_fn = step_fn_of(model) if step_fn_of else None
        call, steps = forward_backward(model, batch_size, FIXED_LENGTH, device, step_fn)
        compile_seconds = seconds_per_call(call, 1, device) if step_fn is not None else None
        seconds = time_calls(call, args.repeats, plan.min_seconds, device)
        row = {"batch": batch_size, "length": FIXED_LENGTH, "time_steps": steps}
        if compile_seconds is not None:
            row["compile_seconds"] = compile_seconds
        if batch_size == 1:
            row["ms_per_time_step"] = summary([1e3 * s / steps for s in seconds])
        else:
            achieved = [3 * forward * steps * batch_size / s / 1e9 for s in seconds]
            row["achieved_gflops"] = summary(achieved)
            row["mfu"] = summary([g / peak["gflops"]["median"] for g in achieved])
        out.append(row)
    return out[0], out[1]


def step_time_and_utilisation(args, plan: Plan, device: torch.device) -> dict:
    """Forward+backward per time step at batch 1, the FLOP counts, the matmul peak and the MFU, eager."""
    fwd_bwd, mfu, flops = {}, {}, {}
    peak = matmul_peak(plan.matmul_size, args, plan, device)
    for name, (_, config, count) in MODELS.items():
        terms = count(INPUT_SIZE, OUTPUT_SIZE, **config)
        flops[name] = {
            "sizes": {"input_size": INPUT_SIZE, "output_size": OUTPUT_SIZE, **config},
            "forward_per_time_step": sum(terms.values()),
            "forward_backward_per_time_step": 3 * sum(terms.values()),
            "terms": terms,
        }
        fwd_bwd[name], mfu[name] = step_time_and_mfu(name, args, plan, device, peak)
    return {
        "forward_backward": fwd_bwd,
        "flops": {"backward": "2x forward", "models": flops},
        "matmul_peak": peak,
        "mfu": mfu,
    }


def compiled_throughput(args, plan: Plan, device: torch.device, peak: dict) -> dict:
    """The NTM's and the DNC's throughput with their steps compiled as ``train.compile=true`` compiles them (one
    time step per call) and the DNC's MFU; the NTM's forward+backward and MFU with one and with
    ``--compile-steps`` time steps per call.

    Every measurement compiles cold: no graph in memory, an empty inductor cache
    on disk (a later run of the same shapes with the default cache compiles faster).
    """
    from torch._inductor.utils import fresh_inductor_cache

    def cold(measure, steps: int):
        torch.compiler.reset()
        with fresh_inductor_cache():
            return measure(lambda model: compiled_step(model.step, steps, device))

    rows = {
        name: [cold(lambda of, b=b, n=name: throughput(n, b, args, plan, device, of), 1) for b in plan.batch_sizes]
        for name in MODELS
    }
    _, dnc_mfu = cold(lambda of: step_time_and_mfu("dnc", args, plan, device, peak, of), 1)
    by_steps = {}
    for steps in sorted({1, args.compile_steps}):
        fwd_bwd, mfu = cold(lambda of: step_time_and_mfu("ntm", args, plan, device, peak, of), steps)
        by_steps[str(steps)] = {"forward_backward": fwd_bwd, "mfu": mfu}
    return {"compile": "cold, empty inductor cache", "rows": rows, "dnc_mfu": dnc_mfu, "time_steps_per_call": by_steps}


def padding(args, plan: Plan, device: torch.device, skipping: dict[str, list[dict]]) -> dict:
    """Eager training throughput computing each sequence's padding, beside ``skipping`` (section 1's rows)."""
    rows = []
    for name in MODELS:
        for row in skipping[name][1:]:
            keep = throughput(name, row["batch"], args, plan, device, skip_padding=False)
            rows.append(
                {
                    "model": name,
                    "batch": row["batch"],
                    "skipping_padding": row["sequences_per_second"],
                    "computing_padding": keep["sequences_per_second"],
                }
            )
    return {"rows": rows}


def cuda_check(args) -> tuple[dict, int]:
    """The short GPU check: training throughput of each model, eager and compiled, at batch 1, 128 and 1024."""
    device = torch.device("cuda")
    plan = dataclasses.replace(make_plan(False, "cuda"), batch_sizes=(1, 128, 1024))
    out: dict = {"environment": environment(args, device), "cuda": {}}
    for name in MODELS:
        for compiled in (False, True):
            step_fn_of = (lambda model: compiled_step(model.step, 1, device)) if compiled else None
            key = f"{name} {'compiled' if compiled else 'eager'}"
            out["cuda"][key] = [throughput(name, b, args, plan, device, step_fn_of) for b in plan.batch_sizes]
    return out, 0


def run_all(args) -> tuple[dict, int]:
    """Every section; returns the results and the exit status (1 when --compile failed)."""
    device = torch.device(args.device)
    plan = make_plan(args.quick, args.device)
    out: dict = {"environment": environment(args, device)}
    out["throughput"] = {name: [throughput(name, b, args, plan, device) for b in plan.batch_sizes] for name in MODELS}
    out.update(step_time_and_utilisation(args, plan, device))
    out["padding"] = padding(args, plan, device, out["throughput"])
    skip = "--quick" if args.quick else "--skip-solve" if args.skip_solve else None
    out["solve"] = {"skipped": skip} if skip else processes.time_to_solve(plan.solve_seeds)
    out["scaling"] = scaling(args, plan)
    if args.quick:
        out["end_to_end"] = out["side_by_side"] = {"skipped": "--quick"}
    else:
        baseline = Path(args.baseline) if args.baseline else None
        out["end_to_end"] = {
            "rows": processes.end_to_end((1, 16, 128), min(args.repeats, 3), baseline, args.baseline_python),
            "baseline": str(baseline) if baseline else None,
        }
        out["side_by_side"] = processes.side_by_side()
    out["compile"] = {"skipped": "no --compile"}
    if args.compile:
        try:
            out["compile"] = compiled_throughput(args, plan, device, out["matmul_peak"])
        except Exception as error:  # a missing C++ compiler, say: keep the other results
            out["compile"] = {"error": f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"}
            return out, 1
    return out, 0


# -- the report ----------------------------------------------------------------------


def fmt(s: dict, digits: int = 1) -> str:
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}, {s['max']:.{digits}f}]"


def mfu_line(m: dict) -> str:
    mfu = {k: 100 * v for k, v in m["mfu"].items() if k != "repeats"}
    return (
        f"MFU at batch {m['batch']}, length {m['length']}: {fmt(m['achieved_gflops'], 2)} GFLOP/s, "
        f"MFU {mfu['median']:.2f}% [{mfu['min']:.2f}, {mfu['max']:.2f}]"
    )


def cuda_report(r: dict) -> str:
    e = r["environment"]
    lines = [f"ntm bench, CUDA check {e['date']}: {e['gpu']}, torch {e['torch']}", "training throughput (sequences/s)"]
    for key, rows in r["cuda"].items():
        cells = ", ".join(f"batch {row['batch']}: {fmt(row['sequences_per_second'])}" for row in rows)
        lines.append(f"  {key:<13} {cells}")
    return "\n".join(lines)


def report(r: dict) -> str:
    e = r["environment"]
    lines = [
        f"ntm bench {e['date']}: torch {e['torch']}, {e['cpu']} ({e['cores']} cores), "
        f"torch threads {e['threads']}, device {e['device']}" + (f" ({e['gpu']})" if "gpu" in e else ""),
        f"Each figure: median [min, max] of {e['repeats']} repeats after a warm-up.",
        "",
        "1. Training throughput, copy lengths 1-20 (sequences/s)",
        f"  {'batch':>6}  " + "".join(f"{name:<28}" for name in r["throughput"]),
    ]
    names = list(r["throughput"])
    for i, row in enumerate(r["throughput"][names[0]]):
        cells = "".join(f"{fmt(r['throughput'][n][i]['sequences_per_second']):<28}" for n in names)
        lines.append(f"  {row['batch']:>6}  {cells}")
    lines += ["", f"2. Forward+backward per time step, batch 1, length {FIXED_LENGTH} (ms)"]
    lines += [f"  {n}  {fmt(v['ms_per_time_step'], 3)}" for n, v in r["forward_backward"].items()]
    lines += ["", "3. Forward FLOPs per time step per sequence (backward taken as 2x forward)"]
    for n, v in r["flops"]["models"].items():
        terms = ", ".join(f"{k} {c:,}" for k, c in v["terms"].items())
        lines.append(f"  {n}  {v['forward_per_time_step']:,}  ({terms})")
    p = r["matmul_peak"]
    lines.append(f"  fp32 matmul peak, {p['size']} x {p['size']} mm: {fmt(p['gflops'])} GFLOP/s")
    lines += [f"  {n} {mfu_line(v)}" for n, v in r["mfu"].items()]
    lines += ["", "4. Time to solve copy from the process's start (ntm train task=copy seed=S, defaults)"]
    s = r["solve"]
    if "skipped" in s:
        lines.append(f"  skipped ({s['skipped']})")
    else:
        lines.append(f"  {'seed':>6}  {'seconds':>8}  {'steps':>6}  {'compile s':>9}")
        for row in s["seeds"]:
            steps = "-" if row["solved_at_step"] is None else f"{row['solved_at_step']:,}"
            lines.append(
                f"  {row['seed']:>6}  {row['process_seconds']:>8.1f}  {steps:>6}  {row['compile_seconds']:>9.1f}"
            )
        lines.append(
            f"  median {s['median_process_seconds']:.1f} s, {s['median_steps']} steps; solved: {s['solved']} of "
            f"{len(s['seeds'])}"
        )
    sc = r["scaling"]
    lines += [
        "",
        f"5. Scaling, NTM batch {sc['batch']}, forward+backward (ratio: time/first over size/first; 1.00 = linear)",
    ]
    for curve, label in (("memory_n", "N"), ("length", "length")):
        lines.append(f"  {label:>8}  {'ms per time step':<26}  {'peak MiB':>9}  {'ratio':>6}")
        for row in sc[curve]:
            lines.append(
                f"  {row[curve]:>8}  {fmt(row['ms_per_time_step'], 3):<26}  "
                f"{row['peak_memory_mib']:>9.1f}  {row['ratio_over_size_ratio']:>6.2f}"
            )
    c = r["compile"]
    lines += ["", "6. The NTM and the DNC with their time steps compiled (train.compile=true)"]
    if "rows" in c:
        for name, rows in c["rows"].items():
            for row in rows:
                lines.append(
                    f"  {name} batch {row['batch']:>4}: compile (first step) {row['compile_seconds']:.1f} s, "
                    f"then {fmt(row['sequences_per_second'])} sequences/s"
                )
        lines.append(f"  dnc compiled, {mfu_line(c['dnc_mfu'])}")
        for steps, v in c["time_steps_per_call"].items():
            f, m = v["forward_backward"], v["mfu"]
            lines.append(f"  {steps} time step(s) per compiled call (train.compile_steps={steps}):")
            lines.append(
                f"    forward+backward per time step, batch 1, length {f['length']}: "
                f"{fmt(f['ms_per_time_step'], 3)} ms (compile {f['compile_seconds']:.1f} s)"
            )
            lines.append(f"    {mfu_line(m)} (compile {m['compile_seconds']:.1f} s)")
    else:
        lines.append(f"  {c.get('error') or 'skipped (' + c['skipped'] + ')'}")
    lines += ["", "7. Eager training throughput, copy lengths 1-20: skipping each sequence's padding or not (seq/s)"]
    for row in r["padding"]["rows"]:
        skip, keep = row["skipping_padding"], row["computing_padding"]
        lines.append(
            f"  {row['model']} batch {row['batch']:>4}: skipping {fmt(skip)}, computing it {fmt(keep)} "
            f"(x{skip['median'] / keep['median']:.2f})"
        )
    lines += ["", "8. End-to-end: whole ntm train processes, defaults (K steps minus 1 step; sequences/s)"]
    e2e = r["end_to_end"]
    if "skipped" in e2e:
        lines.append(f"  skipped ({e2e['skipped']})")
    else:
        for row in e2e["rows"]:
            line = f"  batch {row['batch']:>4}: ntm {fmt(row['ntm'])}"
            if "baseline" in row:
                line += f", existing implementation {fmt(row['baseline'])}, ratio {row['ratio']:.1f}x"
            lines.append(line + f" (compile from the cache {row['compile_seconds']:.1f} s)")
    lines += ["", "9. Two ntm train runs started together (batch 16, 200 steps, defaults)"]
    sbs = r["side_by_side"]
    if "skipped" in sbs:
        lines.append(f"  skipped ({sbs['skipped']})")
    else:
        together = ", ".join(f"{t:.1f}" for t in sbs["together_seconds"])
        lines.append(f"  alone {sbs['alone_seconds']:.1f} s; together {together} s (x{sbs['slowdown']:.2f})")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed repeats per figure (default 5; 2 with --quick)"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "latest.json")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 2 repeats, no solve: a smoke test")
    parser.add_argument("--skip-solve", action="store_true", help="skip the time-to-solve runs")
    parser.add_argument("--compile", action="store_true", help="also the NTM with a torch.compile'd step")
    parser.add_argument(
        "--compile-steps", type=int, default=4, help="with --compile, also this many time steps per call (default 4)"
    )
    parser.add_argument(
        "--baseline", help="a checkout of loudinthecloud/pytorch-ntm, run beside ntm in section 8 (docs/speed.md)"
    )
    parser.add_argument(
        "--baseline-python", default=sys.executable, help="the Python that runs --baseline (it needs attrs<19.2)"
    )
    parser.add_argument("--point", help=argparse.SUPPRESS)  # internal: one scaling point, as JSON
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 2 if args.quick else 5
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench.py: no CUDA GPU visible to this torch: the CUDA check is skipped (run it where there is one)")
        return 0
    if min(args.repeats, args.compile_steps, args.threads or 1) < 1:
        print("bench.py: error: --repeats, --threads and --compile-steps must be at least 1", file=sys.stderr)
        return 2
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.point:
        p = json.loads(args.point)
        device = torch.device(args.device)
        print(json.dumps(scaling_point(p["memory_n"], p["length"], p["repeats"], p["min_seconds"], device)))
        return 0
    results, status = cuda_check(args) if args.device == "cuda" else run_all(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(cuda_report(results) if args.device == "cuda" else report(results))
    print(f"\nwrote {args.out}")
    return status


if __name__ == "__main__":
    sys.exit(main())

"""Where a training step's time goes: torch.profiler over forward+backward of the NTM on copy.

    python bench/profile_step.py [--batch 16] [--length 20] [--steps 10] [--threads 1] [--compile] [--top 12]

Prints the operators with the most self CPU time (eager, or with the time
step compiled by torch.compile) and how many operator calls one time step makes.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from ntm_cli.models.ntm import NTM
from ntm_cli.step import compiled_step
from ntm_cli.tasks import TASKS, masked_bce_bits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = NTM(9, 8)  # the paper's copy model: LSTM 100, memory 128 x 20, one read and one write head
    step = compiled_step(model.step, 1, torch.device("cpu")) if args.compile else None
    batch = TASKS["copy"](min_len=args.length, max_len=args.length).sample(args.batch, torch.Generator().manual_seed(0))

    def run() -> None:
        model.zero_grad(set_to_none=True)
        logits, _ = model(batch.inputs, step=step)
        masked_bce_bits(logits, batch).mean().backward()

    for _ in range(3):  # warm-up (and compilation)
        run()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            run()
    averages = prof.key_averages()
    time_steps = args.steps * batch.inputs.shape[0]
    total_us = sum(e.self_cpu_time_total for e in averages)
    calls = sum(e.count for e in averages if not e.key.startswith("ProfilerStep"))
    mode = "compiled" if args.compile else "eager"
    print(
        f"NTM copy, batch {args.batch}, length {args.length} ({batch.inputs.shape[0]} time steps), {mode}, "
        f"{args.threads} thread(s): {total_us / time_steps / 1000:.3f} ms and {calls / time_steps:.0f} operator "
        "calls (nested ones included) per time step, forward+backward, under the profiler"
    )
    print(averages.table(sort_by="self_cpu_time_total", row_limit=args.top))


if __name__ == "__main__":
    main()

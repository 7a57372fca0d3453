"""Where a copy model's errors come from: bit errors by answer position, with and without writes while it answers.

    python bench/copy_errors.py CHECKPOINT [--length 120] [--memory-n 128] [--sequences 100] [--seed 1]

Runs the checkpoint's model on fresh copy sequences of one length, twice: as trained, and with the memory held
fixed from the delimiter on (the write head's erase and add during the answer undone after each step). Errors that
go away in the second run were caused by what the model writes while it answers; errors that stay are in what it
wrote or in where it reads. docs/generalisation.md reports what this found.
"""

from __future__ import annotations

import argparse

import torch

from ntm_cli import checkpoint, compose
from ntm_cli.evaluation import load_model


def wrong_bits(model, batch, hold_after: int | None = None) -> torch.Tensor:
    """Which output bits are wrong (thresholded at 0.5), (time, batch, outputs) as 0/1, running the model step by
    step; with ``hold_after`` the memory after that time step stays as that step left it."""
    with torch.no_grad():
        state = model.initial_state(batch.inputs.shape[1])
        features = []
        for t, x in enumerate(batch.inputs):
            before = state.memory
            f, state = model.step(x, state)
            if hold_after is not None and t > hold_after:
                state = state._replace(memory=before)
            features.append(f)
        outputs = torch.sigmoid(model.output(torch.stack(features)))
    return ((outputs > 0.5).float() != batch.targets).float()


def answer_errors(model, batch, length: int, hold_memory: bool) -> torch.Tensor:
    """Bit errors per answer position and sequence, (length, batch); with ``hold_memory`` the memory after the
    delimiter stays as the delimiter step left it."""
    return wrong_bits(model, batch, length if hold_memory else None).sum(-1)[length + 1 :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--length", type=int, default=120)
    parser.add_argument("--memory-n", type=int, default=128, help="locations to evaluate with (eval.memory_n)")
    parser.add_argument("--sequences", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = compose("eval", [f"checkpoint={args.checkpoint}", f"eval.memory_n={args.memory_n}"])
    task, model, _, _ = load_model(cfg, checkpoint.load(args.checkpoint), args.checkpoint, torch.device("cpu"))
    if not hasattr(task, "min_len") or not hasattr(model, "read_heads"):
        raise SystemExit("copy_errors.py: needs an NTM trained on copy")
    model.eval()
    generator = torch.Generator().manual_seed(args.seed)
    batch = task.sample(args.sequences, generator, min_len=args.length, max_len=args.length)
    print(f"{args.sequences} sequences of length {args.length}, memory {args.memory_n} locations")
    for hold in (False, True):
        errors = answer_errors(model, batch, args.length, hold)
        per_sequence = errors.sum(0)
        tenth = max(1, args.length // 10)
        tenths = [int(errors[i : i + tenth].sum()) for i in range(0, args.length, tenth)]
        what = "memory held during the answer" if hold else "as trained                   "
        print(
            f"{what}: {float(per_sequence.mean()):8.3f} bit errors/seq, {int((per_sequence > 0).sum()):3d} sequences"
            f" with errors; errors by tenth of the answer: {tenths}"
        )


if __name__ == "__main__":
    main()

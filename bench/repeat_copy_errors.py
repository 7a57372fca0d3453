"""Where a repeat copy model's errors come from: bit errors by repeat, and end markers missed or misplaced.

    python bench/repeat_copy_errors.py CHECKPOINT [--sizes 9x9 10x10 5x10] [--sequences 200] [--seed 1]

For each LENGTHxREPEATS size, runs the checkpoint's model on fresh episodes of exactly that size and prints the
data bit errors per sequence, split by repeat (an error in the last repeat alone is a count that stops one repeat
early; errors in every repeat are in what was written or where it reads), and the end-marker errors per sequence
(the marker channel over the whole answer). docs/repeat_copy.md reports what this found.
"""

from __future__ import annotations

import argparse

import torch
from copy_errors import wrong_bits

from ntm_cli import checkpoint, compose
from ntm_cli.evaluation import load_model


def size(text: str) -> tuple[int, int]:
    length, _, repeats = text.partition("x")
    return int(length), int(repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--sizes", nargs="+", type=size, default=[(5, 5), (9, 9), (10, 10), (10, 5), (5, 10)])
    parser.add_argument("--sequences", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = compose("eval", [f"checkpoint={args.checkpoint}"])
    task, model, _, _ = load_model(cfg, checkpoint.load(args.checkpoint), args.checkpoint, torch.device("cpu"))
    if not hasattr(task, "max_repeats") or not hasattr(model, "read_heads"):
        raise SystemExit("repeat_copy_errors.py: needs an NTM or a DNC trained on repeat copy")
    model.eval()
    generator = torch.Generator().manual_seed(args.seed)
    print(f"{args.sequences} sequences per size; bit errors per sequence")
    for length, repeats in args.sizes:
        batch = task.sample(
            args.sequences, generator, min_len=length, max_len=length, min_repeats=repeats, max_repeats=repeats
        )
        wrong = wrong_bits(model, batch) * batch.mask.unsqueeze(-1)
        answer = wrong[length + 2 : length + 2 + length * repeats, :, :-1].sum(-1)  # (L R, batch)
        by_repeat = answer.reshape(repeats, length, -1).sum((1, 2)) / args.sequences
        marker = float(wrong[..., -1].sum(0).mean())
        print(
            f"length {length:3d} x {repeats:3d} repeats: data {float(answer.sum(0).mean()):8.3f}, end marker "
            f"{marker:6.3f}; data by repeat: {' '.join(f'{float(v):.2f}' for v in by_repeat)}"
        )


if __name__ == "__main__":
    main()

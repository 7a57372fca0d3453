"""The memory figures of Graves et al. 2014 (Figures 6, 9, 12, 13) for one episode of an NTM or a DNC.

``trace`` runs the episode one step at a time and keeps what each step's
recurrent state holds (the heads' weightings, the memory; the DNC's usage and
temporal links); ``draw`` turns that into one PNG: the time panels share one
time axis on the left (inputs, targets, outputs, each head's weightings, the
NTM's add vectors), the end-of-episode panels sit on the right (memory, and
the DNC's usage and link matrix). ``ntm eval eval.figures=true`` draws one
for the first sequence of each row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from ntm_cli.errors import ConfigError
from ntm_cli.models.dnc import DNC
from ntm_cli.models.ntm import NTM
from ntm_cli.tasks.base import Batch

INSTALL_HINT = 'pip install matplotlib (or pip install -e ".[plot]")'


@dataclass
class Trace:
    """The arrays behind one episode's figure, as float tensors on the CPU.

    T time steps, N memory locations, M numbers per location; W write and R read heads.

    inputs: [T, input]; targets: [T, output]; outputs: [T, output], the sigmoid of the logits;
    mask: [T], 1 where a target counts;
    write_weights: [W, T, N] and read_weights: [R, T, N], each head's weighting at each step
    (the NTM's sum to 1 over locations; the DNC's to at most 1, its write gate and read modes scale them);
    memory: [N, M], the memory after the last step, location i's word in row i;
    adds: [W, T, M], the NTM's add vectors a_t (None for the DNC);
    usage: [N], the DNC's usage u_T as its state holds it after the last step (it counts the writes before
    that step: the DNC updates usage from the previous step's write weighting); None for the NTM;
    link: [N, N], the DNC's temporal link matrix L_T, L[i, j] how much location i was written right after
    location j; None for the NTM.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    outputs: torch.Tensor
    mask: torch.Tensor
    write_weights: torch.Tensor
    read_weights: torch.Tensor
    memory: torch.Tensor
    adds: torch.Tensor | None = None
    usage: torch.Tensor | None = None
    link: torch.Tensor | None = None


def check(model: torch.nn.Module) -> None:
    """Raises ConfigError, before an evaluation starts, where figures cannot be drawn: no matplotlib, or a model
    without a memory to show."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError(f"eval.figures=true needs matplotlib, which is not installed: {INSTALL_HINT}") from None
    if not isinstance(model, (NTM, DNC)):
        raise ConfigError(
            f"eval.figures=true draws the memory of an ntm or dnc model; {type(model).__name__} has none; drop it"
        )


def first_episode(batch: Batch) -> Batch:
    """Episode 0 of a batch, cut to its own steps: inputs [T, 1, input], targets [T, 1, output], mask [T, 1]."""
    steps = int(batch.steps[0])
    return Batch(batch.inputs[:steps, :1], batch.targets[:steps, :1], batch.mask[:steps, :1], batch.steps[:1])


def _cpu(x: torch.Tensor) -> torch.Tensor:
    return x.detach().float().cpu()


def _ntm_adds(model: NTM, features: torch.Tensor) -> torch.Tensor:
    """The add vectors a_t [W, T, M] that ``NTM.step`` wrote with, recomputed from its controller output.

    They are not in the state. ``step`` returns features = [h_t, r_t] and takes the write heads' erase and
    add from the last 2 W M entries of head_params(h_t) (the add after the erase, per head), as here.
    """
    h = features[:, 0, : model.controller.hidden_size]  # (T, hidden)
    write_params = model.head_params(h)[:, -model.write_heads * 2 * model.memory_m :]
    _, add = write_params.view(-1, model.write_heads, 2 * model.memory_m).chunk(2, dim=-1)  # (T, W, M)
    return torch.tanh(add).transpose(0, 1)


@torch.no_grad()
def trace(model: NTM | DNC, episode: Batch) -> Trace:
    """Runs one episode (``first_episode``'s shape, on the model's device) step by step, in eval mode and without
    gradients, and collects each step's state: the arrays a figure shows. The model's maths is its own ``step``."""
    was_training = model.training
    model.eval()
    try:
        state = model.initial_state(1)
        features, states = [], []
        for x in episode.inputs:  # x: (1, input)
            f, state = model.step(x, state)
            features.append(f)
            states.append(state)
        features = torch.stack(features)  # (T, 1, F)
        outputs = torch.sigmoid(model.output(features))
    finally:
        model.train(was_training)
    common = {
        "inputs": _cpu(episode.inputs[:, 0]),
        "targets": _cpu(episode.targets[:, 0]),
        "outputs": _cpu(outputs[:, 0]),
        "mask": _cpu(episode.mask[:, 0]),
        "memory": _cpu(state.memory[0].t()),  # (M, N) -> (N, M)
    }
    if isinstance(model, NTM):
        weights = torch.stack([s.weights[0] for s in states], dim=1)  # (R + W, T, N), read heads first
        return Trace(
            write_weights=_cpu(weights[model.read_heads :]),
            read_weights=_cpu(weights[: model.read_heads]),
            adds=_cpu(_ntm_adds(model, features)),
            **common,
        )
    return Trace(
        write_weights=_cpu(torch.stack([s.write_weights for s in states], dim=1)),  # (1, T, N)
        read_weights=_cpu(torch.stack([s.read_weights[0] for s in states], dim=1)),  # (R, T, N)
        usage=_cpu(state.usage[0]),
        link=_cpu(state.link[0]),
        **common,
    )


def draw_first(model: NTM | DNC, batch: Batch, title: str, path: str | Path) -> Path:
    """Traces and draws the first episode of ``batch`` (on the CPU), on the model's device. Returns the path."""
    episode = first_episode(batch).to(next(model.parameters()).device)
    return draw(trace(model, episode), title, path)


def file_name(row: str) -> str:
    """A row's figure file: ``length 1-5`` -> ``length_1-5.png``."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", row).strip("_") + ".png"


class _Panel(NamedTuple):
    """One heat map: its title, image [rows, columns], axis labels, colour range and colour map."""

    title: str
    image: torch.Tensor
    xlabel: str
    ylabel: str
    limits: tuple[float, float]
    cmap: str


# Weightings, bits and links share one colour scale, black 0 to white 1; signed values go blue-white-red.
_UNIT, _GRAY, _SIGNED = (0.0, 1.0), "gray", "coolwarm"


def _time_panels(trace: Trace) -> list[_Panel]:
    """The panels over time, top to bottom, time on the x axis: inputs, targets, outputs, weightings, adds."""
    t = "time step"
    panels = [
        _Panel("inputs", trace.inputs.T, t, "input channel", _UNIT, _GRAY),
        _Panel("targets", trace.targets.T, t, "output channel", _UNIT, _GRAY),
        _Panel("outputs (sigmoid of the logits)", trace.outputs.T, t, "output channel", _UNIT, _GRAY),
    ]
    for kind, weights in (("write", trace.write_weights), ("read", trace.read_weights)):
        panels += [
            _Panel(f"{kind} weighting, head {h}", w.T, t, "memory location", _UNIT, _GRAY)
            for h, w in enumerate(weights)
        ]
    for h, add in enumerate(trace.adds if trace.adds is not None else []):
        panels.append(_Panel(f"add vector, write head {h}", add.T, t, "word component", (-1.0, 1.0), _SIGNED))
    return panels


def _end_panels(trace: Trace) -> list[_Panel]:
    """The heat maps of the state after the last step: the memory (on a scale symmetric about 0), the DNC's links."""
    scale = max(float(trace.memory.abs().max()), 1e-6)
    panels = [_Panel("memory at the end", trace.memory, "word component", "memory location", (-scale, scale), _SIGNED)]
    if trace.link is not None:
        labels = "from location j (written before)", "to location i (written after)"
        panels.append(_Panel("temporal link matrix at the end", trace.link, *labels, _UNIT, _GRAY))
    return panels


def _heat_map(fig, ax, panel: _Panel) -> None:
    """``panel`` on ``ax``, with its title, axis labels and colour bar."""
    low, high = panel.limits
    shown = ax.imshow(panel.image.numpy(), aspect="auto", interpolation="nearest", cmap=panel.cmap, vmin=low, vmax=high)
    ax.set(title=panel.title, xlabel=panel.xlabel, ylabel=panel.ylabel)
    _integer_ticks(ax)
    fig.colorbar(shown, ax=ax, fraction=0.04, pad=0.01)


def _integer_ticks(ax, x: bool = True) -> None:
    """Ticks at whole time steps, locations and channels only (on the y axis, and on x where ``x``)."""
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis)[0 if x else 1 :]:
        axis.set_major_locator(MaxNLocator(integer=True))


def draw(trace: Trace, title: str, path: str | Path) -> Path:
    """Draws ``trace`` into one PNG at ``path`` (its folder is created) and returns the path.

    One file per episode: the time panels (left) share one time axis, so a write, the read that
    finds it and the output it gives line up in one column, as in the paper's figures; the
    state after the last step (memory, the DNC's usage and links) stands on the right.

    matplotlib is imported here, so that importing this module needs none; the figure is drawn on its own Agg
    canvas (files only, no display), outside pyplot, so it changes no backend or global state of the caller.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _figure(trace, title).savefig(path, dpi=80)
    return path


def _figure(trace: Trace, title: str):
    """The figure of ``trace`` on its own Agg canvas (outside pyplot), not yet drawn: for ``draw`` and ``render``.

    The time panels are at most 40 inches wide (long episodes are capped); every time panel keeps its
    time-step labels, so that each reads alone in a tall figure; location 0 is on top, as in the heat maps.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    over_time, at_end = _time_panels(trace), _end_panels(trace)
    width = min(40.0, 6.0 + 0.12 * trace.inputs.shape[0])
    fig = Figure(figsize=(width + 5.0, 2.0 * len(over_time) + 1.0), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[width, 5.0])
    for ax, panel in zip(left.subplots(len(over_time), 1, sharex=True, squeeze=False)[:, 0], over_time, strict=True):
        _heat_map(left, ax, panel)
        ax.tick_params(labelbottom=True)
    axes = right.subplots(len(at_end) + (trace.usage is not None), 1, squeeze=False)[:, 0]
    for ax, panel in zip(axes, at_end, strict=False):
        _heat_map(right, ax, panel)
    if trace.usage is not None:
        usage, n = axes[-1], trace.usage.shape[0]
        usage.barh(range(n), trace.usage.numpy(), color="0.3")
        usage.set(title="usage at the end", xlabel="usage", ylabel="memory location", xlim=_UNIT, ylim=(n - 0.5, -0.5))
        _integer_ticks(usage, x=False)
    fig.suptitle(title)
    FigureCanvasAgg(fig)
    return fig


def render(trace: Trace, title: str, dpi: float = 80):
    """``draw``'s figure of ``trace`` as pixels: a uint8 numpy array [height, width, 3] (RGB), e.g. for TensorBoard.

    No file and no pyplot: the figure is drawn on its own Agg canvas, as ``draw`` does. ``dpi``: pixels per inch
    (``draw`` saves at 80); the figure is 11-45 inches wide and 2 inches tall per time panel.
    """
    import numpy as np

    fig = _figure(trace, title)
    fig.set_dpi(dpi)
    fig.canvas.draw()
    return np.array(fig.canvas.buffer_rgba())[..., :3]

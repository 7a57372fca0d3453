"""The models and their registry: ``model=NAME`` -> its config schema and builder.

Every model maps inputs [time, batch, input_size] to logits [time, batch,
output_size] as ``model(inputs, step=None, lengths=None) -> (logits, state)``.
A stepwise model (``stepwise = True``: the NTM, the DNC) runs a ``step``
function per time step, which ``train.compile`` may compile; ``lengths``
lets it skip each sequence's padding.

A model of your own joins without editing this package:
``ntm train model=custom model._target_=my_module.MyModel`` builds
``MyModel(input_size, output_size, **keys)`` from the keyword parameters of
its constructor (docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

import torch
from torch import nn

from ntm_cli import plugins
from ntm_cli.errors import ConfigError
from ntm_cli.models.controllers import ControllerConfig
from ntm_cli.models.dnc import DNCConfig, build_dnc, dnc_sizes
from ntm_cli.models.lstm import LSTMConfig, build_lstm, lstm_sizes
from ntm_cli.models.ntm import NTMConfig, build_ntm, ntm_sizes, resize_memory


class ModelSpec(NamedTuple):
    """What ``model=NAME`` means.

    config: the dataclass of the ``model.*`` keys (a ``name`` field, and ``problems()`` for range checks);
    build: (model config, controller config, input size, output size) -> the module;
    sizes: (the same arguments) -> (parameters, state floats per sequence), computed without building the
        model, so that a run too big for the machine is refused before it allocates anything;
    controller: whether the ``controller`` group applies;
    resize: a state dict adapted to another ``memory_n`` (``ntm eval eval.memory_n=N``), where the model can.
    """

    config: type
    build: Callable[[Any, ControllerConfig, int, int], nn.Module]
    sizes: Callable[[Any, ControllerConfig, int, int], tuple[int, int]] | None = None
    controller: bool = True
    resize: Callable[[dict[str, torch.Tensor], int], dict[str, torch.Tensor]] | None = None


def _same_state(state: dict[str, torch.Tensor], memory_n: int) -> dict[str, torch.Tensor]:
    """The DNC's weights do not depend on its number of locations."""
    return state


MODELS: dict[str, ModelSpec] = {
    "ntm": ModelSpec(NTMConfig, build_ntm, ntm_sizes, resize=resize_memory),
    "dnc": ModelSpec(DNCConfig, build_dnc, dnc_sizes, resize=_same_state),
    "lstm": ModelSpec(LSTMConfig, build_lstm, lstm_sizes, controller=False),
}


class UserModel(nn.Module):
    """A user's module, whose ``forward(inputs)`` returns logits, behind the models' common interface."""

    stepwise = False

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def initial_state(self, batch_size: int) -> tuple:
        return ()

    def forward(self, inputs: torch.Tensor, state: Any = None, step: None = None, lengths: Any = None):
        out = self.inner(inputs)
        return out if isinstance(out, tuple) else (out, None)


@cache
def user_model_spec(target: str) -> ModelSpec:
    """The spec of ``model._target_=MODULE.CLASS``: keys from the keyword parameters of its constructor."""
    cls = plugins.load_class(target, "model._target_")
    if not issubclass(cls, nn.Module):
        raise ConfigError(f"model._target_={target} is not a torch.nn.Module; give a module class")
    fields = plugins.constructor_fields(cls, skip=2)  # after input_size, output_size
    schema = plugins.schema(f"{cls.__name__}Config", "custom", fields, target=target)

    def build(cfg: Any, controller: ControllerConfig, input_size: int, output_size: int) -> nn.Module:
        keys = {name: getattr(cfg, name) for name, _, _ in fields}
        return UserModel(cls(input_size, output_size, **keys))

    schema.problems = lambda self: []
    schema.__doc__ = cls.__doc__
    return ModelSpec(schema, build, controller=False)


def model_spec(name: str, target: str | None = None) -> ModelSpec:
    """The spec of ``model=NAME`` (``custom`` with ``model._target_``)."""
    if name == "custom":
        if not target:
            raise ConfigError("model=custom needs model._target_=MODULE.CLASS, the class of your model")
        return user_model_spec(target)
    if name not in MODELS:
        raise ConfigError(f"model={name} is not known; use one of: {', '.join([*MODELS, 'custom'])}")
    return MODELS[name]


def spec_of(cfg: Any) -> ModelSpec:
    """The spec of a typed model config (``model_spec`` by its name and, for ``custom``, its class)."""
    return model_spec(cfg.name, getattr(cfg, "_target_", None))

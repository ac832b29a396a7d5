"""Which modules of a model get a hook, and the layer id each one reports as."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = ["LayerSpec", "layer_id", "select_layers"]

LayerSpec = str | type[nn.Module] | Sequence[str | type[nn.Module]] | None
"""``None``: every leaf module with parameters of its own; otherwise module names (as in
``model.named_modules()``), module types, or a sequence mixing both."""


def layer_id(model: nn.Module, name: str) -> str:
    """The layer id of the module called ``name`` (the root, ``""``, is its class name)."""
    return name or type(model).__name__


def _has_own_parameters(module: nn.Module) -> bool:
    return next(module.parameters(recurse=False), None) is not None


def select_layers(model: nn.Module, layers: LayerSpec) -> list[tuple[str, nn.Module]]:
    """The ``(layer id, module)`` pairs to watch, in ``named_modules()`` order.

    Raises:
        ValueError: A name that is not a module of the model, or a selection
            that matches no module (naming what was asked for).
    """
    named = list(model.named_modules())
    if layers is None:
        chosen = [
            (n, m) for n, m in named if next(m.children(), None) is None and _has_own_parameters(m)
        ]
        if not chosen:
            raise ValueError(
                f"{type(model).__name__} has no leaf module with parameters; "
                "pass layers= names or types to watch"
            )
        return [(layer_id(model, n), m) for n, m in chosen]
    wanted = [layers] if isinstance(layers, str | type) else list(layers)
    names = {w for w in wanted if isinstance(w, str)}
    types = tuple(w for w in wanted if isinstance(w, type))
    known = {n for n, _ in named}
    missing = sorted(names - known)
    if missing:
        raise ValueError(f"no module named {', '.join(map(repr, missing))} in "
                         f"{type(model).__name__}; names come from model.named_modules()")
    chosen = [(n, m) for n, m in named if n in names or (types and isinstance(m, types))]
    if not chosen:
        raise ValueError(f"no module of {type(model).__name__} is of type "
                         f"{', '.join(t.__name__ for t in types)}")
    return [(layer_id(model, n), m) for n, m in chosen]

"""The weight hand-over between stages, by layer name."""
from __future__ import annotations

import keras

from ecgsl_keras.errors import ConfigError

# --- weight hand-over -------------------------------------------------------------------------

def _children(layer) -> list:
    if isinstance(layer, keras.Model):
        return list(layer.layers)
    inner = getattr(layer, "layer", None)   # wrappers (TimeDistributed, Bidirectional...)
    return [inner] if isinstance(inner, keras.layers.Layer) else []


def _named_layers(model) -> dict:
    """Every layer and nested model of ``model`` by name (outermost first)."""
    found = {}
    stack = list(reversed(_children(model)))
    while stack:
        layer = stack.pop()
        found.setdefault(layer.name, layer)
        stack.extend(reversed(_children(layer)))
    return found


def _shapes(layer) -> list:
    return [tuple(w.shape) for w in layer.weights]


def transfer_weights(src_model, dst_model) -> list[str]:
    """Copy weights from ``src_model`` into ``dst_model`` layer by layer, matched by NAME.

    Both models are searched recursively (nested models like ``beat_encoder`` and
    ``temporal_encoder``, and wrapper layers). A layer or sub-model of ``dst_model`` takes the
    weights of the ``src_model`` layer with the same name when both have weights of the same
    shapes, in the same order; a matched sub-model is copied whole, otherwise its own layers are
    tried one by one. Layers without weights are skipped; names whose shapes differ are left as
    they are. Returns the names copied, in ``dst_model`` order.
    """
    sources = _named_layers(src_model)
    copied = []

    def visit(layer):
        source = sources.get(layer.name)
        if source is not None and source is not layer and layer.weights and _shapes(source) == _shapes(layer):
            layer.set_weights(source.get_weights())
            copied.append(layer.name)
            return
        for child in _children(layer):
            visit(child)

    for layer in _children(dst_model):
        visit(layer)
    return copied


def _transfer_or_fail(src_model, dst_model, required=()) -> list[str]:
    copied = transfer_weights(src_model, dst_model)
    covered = set()
    named = _named_layers(dst_model)
    for name in copied:     # a sub-model copied whole covers its own layers
        covered.add(name)
        covered.update(_named_layers(named[name]))
    missing = [name for name in required if name not in covered]
    if missing:
        raise ConfigError(f"<init model {src_model.name}>", "bad_init_model",
                          f"gave no weights for {missing} of {dst_model.name!r} (copied: {copied}); is it an "
                          "ECG-SL model of the previous stage, built with the same ModelConfig?")
    return copied

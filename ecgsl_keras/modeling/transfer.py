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


def _channel_extended(source, layer) -> list | None:
    """``source``'s weights laid into ``layer``'s shapes when they differ ONLY by more input channels of a
    convolution kernel (axis -2 of a kernel of rank >= 3: Conv1D ``(k, in, out)``): the source kernel fills
    the first input channels, zeros the new ones, so that the layer gives the source's output whatever the
    new channels hold. None when the weights differ otherwise."""
    import numpy as np

    src, dst = _shapes(source), _shapes(layer)
    if len(src) != len(dst):
        return None
    out = []
    for weight, s, d in zip(source.get_weights(), src, dst):
        if s == d:
            out.append(weight)
        elif len(s) >= 3 and len(s) == len(d) and s[:-2] == d[:-2] and s[-1] == d[-1] and s[-2] < d[-2]:
            grown = np.zeros(d, dtype=weight.dtype)
            grown[..., :s[-2], :] = weight
            out.append(grown)
        else:
            return None
    return out


def beat_channels_of(model, beat_len: int) -> int | None:
    """Input channels of ``model``'s nested ``beat_encoder`` (its beat width over ``beat_len``: channels are
    laid end to end, ``SignalConfig.beat_reference``), or None when it has none."""
    encoder = _named_layers(model).get("beat_encoder")
    if encoder is None or not isinstance(encoder, keras.Model):
        return None
    return int(encoder.inputs[0].shape[-1]) // int(beat_len)


def transfer_weights(src_model, dst_model, *, extend_channels: bool = False, skip=()) -> list[str]:
    """Copy weights from ``src_model`` into ``dst_model`` layer by layer, matched by NAME.

    Both models are searched recursively (nested models like ``beat_encoder`` and
    ``temporal_encoder``, and wrapper layers). A layer or sub-model of ``dst_model`` takes the
    weights of the ``src_model`` layer with the same name when both have weights of the same
    shapes, in the same order; a matched sub-model is copied whole, otherwise its own layers are
    tried one by one. Layers without weights are skipped; names whose shapes differ are left as
    they are. Returns the names copied, in ``dst_model`` order.

    ``extend_channels`` (off by default; the classifiers turn it on only when ``dst_model``'s beat
    encoder takes more channels than ``src_model``'s, ``beat_channels_of``): a layer whose weights
    differ only by more input channels of its kernel (the beat encoder's first convolution) takes the
    source kernel with zeros for the new channels (``_channel_extended``), so that the new model starts
    exactly at the source model's outputs.

    ``skip``: names of ``dst_model``'s layers (and sub-models) left as they are (a warm start that must not
    overwrite what the stage took from its previous model, ``Stage.start_keeps``).
    """
    sources = _named_layers(src_model)
    skip = frozenset(skip)
    copied = []

    def visit(layer):
        if layer.name in skip:
            return
        source = sources.get(layer.name)
        if source is not None and source is not layer and layer.weights:
            if _shapes(source) == _shapes(layer):
                layer.set_weights(source.get_weights())
                copied.append(layer.name)
                return
            grown = _channel_extended(source, layer) if extend_channels and not _children(layer) else None
            if grown is not None:
                layer.set_weights(grown)
                copied.append(layer.name)
                return
        for child in _children(layer):
            visit(child)

    for layer in _children(dst_model):
        visit(layer)
    return copied


def _covered(model, copied) -> set:
    """Names of ``model``'s layers that hold copied weights: the copied ones, everything inside a sub-model
    copied whole, and a sub-model all of whose weighted layers are covered (copied layer by layer)."""
    named = _named_layers(model)
    covered = set()
    for name in copied:
        covered.add(name)
        covered.update(_named_layers(named[name]))

    def full(layer) -> bool:
        if layer.name in covered:
            return True
        children = _children(layer)
        if not children:
            return not layer.weights
        done = all([full(child) for child in children])
        if done and layer.weights:
            covered.add(layer.name)
        return done

    for layer in _children(model):
        full(layer)
    return covered


def _transfer_or_fail(src_model, dst_model, required=(), beat_len: int | None = None) -> list[str]:
    """``transfer_weights``, a ``ConfigError`` when a ``required`` layer got no weights. With ``beat_len``
    (the classifiers) the channels are extended when ``dst_model``'s beat encoder takes more than
    ``src_model``'s (a one-channel pre-trained encoder for beats with a reference channel)."""
    extend, src_c, dst_c = False, None, None
    if beat_len is not None:
        src_c, dst_c = beat_channels_of(src_model, beat_len), beat_channels_of(dst_model, beat_len)
        extend = src_c is not None and dst_c is not None and dst_c > src_c
    copied = transfer_weights(src_model, dst_model, extend_channels=extend)
    covered = _covered(dst_model, copied)
    missing = [name for name in required if name not in covered]
    if missing:
        # a multi-channel pre-trained encoder for fewer channels: no channel is dropped, say so
        channels = (f"; its beat encoder reads {src_c} channels, this model's {dst_c}"
                    if src_c is not None and dst_c is not None and src_c > dst_c else "")
        raise ConfigError(f"<init model {src_model.name}>", "bad_init_model",
                          f"gave no weights for {missing} of {dst_model.name!r} (copied: {copied}){channels}; is it an "
                          "ECG-SL model of the previous stage, built with the same ModelConfig?")
    return copied

"""Size and cost of the ECG-SL models: parameters per part and multiply-accumulates (MACs) for one
record.

    python experiments/model_summary.py                       # default ModelConfig
    python experiments/model_summary.py --config run/config.json --seconds 30 --bpm 72

The record: ``--seconds`` of ECG at ``--bpm`` beats per minute gives ``seconds * bpm / 60`` beats
(30 s at 72 bpm: 36 beats). MACs are counted for that many beats (the model run on the real beats
only, as the Keras model can be) and for ``max_beats`` (the fixed-shape SavedModel / TFLite export,
which pads every window to ``max_beats``). Counted: the multiply-accumulates of convolutions, dense
layers and attention (Q, K, V, output projections, scores and weighted sums); not counted:
element-wise work (activations, normalisation, softmax, residual adds), a few percent at most.
The 1-D ResNet baseline is counted on the same record as a raw window (seconds * target_fs samples).
``profiler_check`` recounts the beat encoder and the ResNet with TensorFlow's profiler (float ops
/ 2, bias adds included): an independent check of the counting here.

A readable table goes to stderr; the last line of stdout is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402

from ecgsl_keras.modeling import layers as ecgsl_layers  # noqa: E402
from ecgsl_keras import tasks  # noqa: E402
from ecgsl_keras.modeling import models
from ecgsl_keras.config import ExperimentConfig  # noqa: E402


def _rows(shape, beats) -> int:
    """Product of the dimensions between batch and features; an unknown one is the beat axis."""
    return math.prod(beats if d is None else int(d) for d in shape[1:-1])


def layer_macs(layer, beats: int) -> int:
    """MACs of one call of ``layer`` for one sequence of ``beats`` beats (batch 1)."""
    if isinstance(layer, keras.Model):
        per_call = sum(layer_macs(inner, beats) for inner in layer.layers)
        # the beat encoder runs once per beat on (B * T, beat_len) inputs
        return per_call * beats if layer.name == "beat_encoder" and beats else per_call
    if isinstance(layer, ecgsl_layers.TransformerEncoderBlock):
        d = layer.attention_norm.gamma.shape[0]
        return 4 * beats * d * d + 2 * beats * beats * d + 2 * beats * d * layer.ff_dim
    if isinstance(layer, ecgsl_layers.AttentionPooling):
        d = layer.score_hidden.kernel.shape[0]
        return beats * d * layer.units + beats * layer.units
    if isinstance(layer, keras.layers.Conv1DTranspose):
        k, out_ch, in_ch = layer.kernel.shape
        return _rows(layer.input.shape, beats) * k * in_ch * out_ch
    if isinstance(layer, keras.layers.Conv1D):
        k, in_ch, out_ch = layer.kernel.shape
        return _rows(layer.output.shape, beats) * k * in_ch * out_ch
    if isinstance(layer, keras.layers.Dense):
        n_in, n_out = layer.kernel.shape
        return _rows(layer.input.shape, beats) * n_in * n_out
    return 0


def per_beat_macs(model) -> int:
    """MACs of a single-beat model (the autoencoder halves) for one beat."""
    return sum(layer_macs(layer, 0) for layer in model.layers if not isinstance(layer, keras.Model)) + \
        sum(sum(layer_macs(inner, 0) for inner in layer.layers) for layer in model.layers
            if isinstance(layer, keras.Model))


def params(layer) -> int:
    return int(sum(math.prod(w.shape) for w in layer.weights))


def profiler_macs(model, input_shape) -> int:
    """Independent check: TensorFlow's profiler float operations / 2 for ``model`` on a static
    ``input_shape`` (it counts bias adds too, so a little above the MACs). Only for models whose
    graph has static shapes throughout (the beat encoder, the ResNet): it skips ops of unknown shape."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    function = tf.function(lambda x: model(x, training=False))
    graph = convert_variables_to_constants_v2(function.get_concrete_function(tf.TensorSpec(input_shape))).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op",
                                            options=options)
    return int(profile.total_float_ops // 2)


def classifier_parts(classifier) -> dict:
    encoder = classifier.get_layer("temporal_encoder")
    parts = {"beat_encoder": encoder.get_layer("beat_encoder"), "projection": encoder.get_layer("projection"),
             "positional_encoding": encoder.get_layer("positional_encoding")}
    blocks = [layer for layer in encoder.layers if isinstance(layer, ecgsl_layers.TransformerEncoderBlock)]
    parts["transformer_blocks"] = blocks
    parts["encoder_norm"] = encoder.get_layer("encoder_norm")
    parts["pooling"] = classifier.get_layer("pooling")
    parts["head"] = [classifier.get_layer("head_dense"), classifier.get_layer("probabilities")]
    return parts


def summarise(config: ExperimentConfig, seconds: float, bpm: float) -> dict:
    cfg = config.model
    beats = int(round(seconds * bpm / 60.0))
    if not 1 <= beats <= cfg.max_beats:
        raise SystemExit(f"{beats} beats ({seconds} s at {bpm} bpm) is outside 1..max_beats={cfg.max_beats}")
    samples = int(round(seconds * config.signal.target_fs))

    autoencoder = models.build_beat_autoencoder(cfg)
    masked = models.build_masked_model(cfg)
    classifier = models.build_classifier(cfg, tasks.CINC2017)
    beat_classifier = models.build_beat_classifier(cfg, tasks.MITDB_AAMI)
    resnet = models.build_resnet1d(cfg, tasks.CINC2017, input_samples=samples)

    def as_list(x):
        return x if isinstance(x, list) else [x]

    parts = classifier_parts(classifier)
    part_params = {name: sum(params(layer) for layer in as_list(value)) for name, value in parts.items()}
    part_macs = {length: {name: sum(layer_macs(layer, length) for layer in as_list(value))
                          for name, value in parts.items()} for length in (beats, cfg.max_beats)}
    encoder_names = ("beat_encoder", "projection", "positional_encoding", "transformer_blocks", "encoder_norm")
    head_names = ("reconstruction_hidden", "reconstruction", "prediction", "rr_prediction")
    masked_head = [layer for layer in masked.layers if layer.name in head_names]
    beat_head = [beat_classifier.get_layer("beat_head_dense"), beat_classifier.get_layer("probabilities")]

    return {
        "model_config": cfg.to_dict(),
        "record": {"seconds": seconds, "heart_rate_bpm": bpm, "beats": beats, "max_beats": cfg.max_beats,
                   "resnet_samples": samples, "target_fs": config.signal.target_fs},
        "params": {
            "classifier_parts": part_params,
            "transformer_block_each": params(parts["transformer_blocks"][0]) if parts["transformer_blocks"] else 0,
            "temporal_encoder": sum(part_params[name] for name in encoder_names),
            "classifier_total": params(classifier),
            "beat_autoencoder": {"beat_encoder": params(autoencoder.get_layer("beat_encoder")),
                                 "beat_decoder": params(autoencoder.get_layer("beat_decoder")),
                                 "total": params(autoencoder)},
            "masked_model": {"segment_masking": params(masked.get_layer("segment_masking")),
                             "prediction_heads": sum(params(layer) for layer in masked_head),
                             "frozen_target_encoder": params(masked.get_layer("target_encoder"))
                             if "target_encoder" in [layer.name for layer in masked.layers] else 0,
                             "total": params(masked)},
            "beat_classifier": {"head": sum(params(layer) for layer in beat_head), "total": params(beat_classifier)},
            "resnet1d_baseline": params(resnet),
        },
        "macs": {
            f"classifier_{beats}_beats": {"parts": part_macs[beats], "total": sum(part_macs[beats].values())},
            f"classifier_padded_{cfg.max_beats}_beats": {"parts": part_macs[cfg.max_beats],
                                                          "total": sum(part_macs[cfg.max_beats].values())},
            "beat_encoder_per_beat": per_beat_macs(autoencoder.get_layer("beat_encoder")),
            "beat_autoencoder_per_beat": per_beat_macs(autoencoder),
            f"masked_model_{beats}_beats": sum(layer_macs(layer, beats) for layer in masked.layers),
            f"resnet1d_{samples}_samples": sum(layer_macs(layer, 0) for layer in resnet.layers),
        },
        "profiler_check": {
            "beat_encoder_per_beat": profiler_macs(autoencoder.get_layer("beat_encoder"), (1, cfg.beat_len)),
            f"resnet1d_{samples}_samples": profiler_macs(resnet, (1, samples, 1)),
        },
        "versions": {"keras": keras.__version__},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="ExperimentConfig JSON (default: the defaults of ecgsl_keras.config)")
    parser.add_argument("--seconds", type=float, default=30.0, help="record length (s)")
    parser.add_argument("--bpm", type=float, default=72.0, help="heart rate giving the number of beats")
    args = parser.parse_args(argv)
    config = ExperimentConfig.load(args.config) if args.config else ExperimentConfig()
    result = summarise(config, args.seconds, args.bpm)
    beats = result["record"]["beats"]
    print(f"parameters per part (classifier, {tasks.CINC2017.name}):", file=sys.stderr)
    for name, count in result["params"]["classifier_parts"].items():
        macs = result["macs"][f"classifier_{beats}_beats"]["parts"][name]
        print(f"  {name:22s} {count:>9,d} params {macs:>13,d} MACs ({beats} beats)", file=sys.stderr)
    print(f"  {'total':22s} {result['params']['classifier_total']:>9,d} params "
          f"{result['macs'][f'classifier_{beats}_beats']['total']:>13,d} MACs", file=sys.stderr)
    print(f"profiler check (beat encoder per beat): {result['profiler_check']['beat_encoder_per_beat']:,d} vs "
          f"{result['macs']['beat_encoder_per_beat']:,d} MACs counted here", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

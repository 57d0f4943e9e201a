"""Stage-2 diagnostic: the masked model's error on masked beats against trivial predictors.

    python -m ecgsl_keras.bench masked --model RUN_OR_FILE --data TFRECORD_DIR [--split validation]

The masked model is run in inference mode, where ``SegmentMasking`` draws its fixed seeded masks
(the masks of the validation loss). On exactly those masked beats, in the model's own target space
(raw beat samples for ``masked_target="beats"``; the standardised frozen stage-1 embedding for
``"latent"``; the standardised RR features for the RR head), the mean per-beat squared error of:

* ``model``: the model's prediction;
* ``zeros``: 0 (in a standardised space, the training beats' mean);
* ``previous``: the nearest unmasked beat before (after, at the start of a window);
* ``neighbours_mean``: the mean of the nearest unmasked beats before and after;
* ``record_mean`` / ``record_median``: the mean / median of the window's unmasked beats (a window
  is the whole record for records of up to ``max_beats`` beats).

Windows do not overlap (stride ``max_beats``), so each beat counts once. ``margin`` is
``1 - model / best trivial``. ``within_record_share`` = record_mean / zeros: the share of the
variance left once each record's own mean is known; what context can still explain is below that.
``neighbour_correlation`` estimates how much of that within-record deviation two neighbouring
beats share (``1 - previous / (2 record_mean)``): near 0, the deviations are noise that no context
can predict, and the record mean is close to the best possible predictor.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from ecgsl_keras.errors import ConfigError
from ecgsl_keras.store import runs
from tfrecords_tools import make_dataset

log = logging.getLogger("ecgsl_keras.bench.masked")

TRIVIAL = ("zeros", "previous", "neighbours_mean", "record_mean", "record_median")


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, help="masked (stage 2) run folder or .keras file")
    parser.add_argument("--data", required=True, help="TFRecord folder written by ecgsl_keras.data.prepare")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="only the first N windows")


def _nearest_visible(visible: np.ndarray):
    """For each position: index of the nearest visible position before it and after it (-1: none)."""
    n = visible.shape[0]
    index = np.where(visible, np.arange(n), -1)
    before = np.maximum.accumulate(np.concatenate([[-1], index[:-1]]))
    after_index = np.where(visible, np.arange(n), n)
    after = np.minimum.accumulate(np.concatenate([after_index[1:], [n]])[::-1])[::-1]
    return before, np.where(after < n, after, -1)


def trivial_predictions(values: np.ndarray, real: np.ndarray, masked: np.ndarray) -> dict:
    """Trivial predictions of ``values`` (T, F) at the masked positions of one sequence, from its
    visible (real, unmasked) positions: {name: (k, F)} with k = masked.sum()."""
    visible = real & ~masked
    where = np.flatnonzero(masked)
    if not visible.any():
        zero = np.zeros((where.size, values.shape[1]), values.dtype)
        return {name: zero for name in TRIVIAL}
    before, after = _nearest_visible(visible)
    b, a = before[where], after[where]
    previous = np.where((b >= 0)[:, None], values[np.maximum(b, 0)], values[np.maximum(a, 0)])
    following = np.where((a >= 0)[:, None], values[np.maximum(a, 0)], previous)
    seen = values[visible]
    return {"zeros": np.zeros((where.size, values.shape[1]), values.dtype),
            "previous": previous,
            "neighbours_mean": 0.5 * (previous + following),
            "record_mean": np.broadcast_to(seen.mean(axis=0), (where.size, values.shape[1])),
            "record_median": np.broadcast_to(np.median(seen, axis=0), (where.size, values.shape[1]))}


def masked_diagnostic(model, data, split="validation", batch_size=32, limit=None) -> dict:
    """The diagnostic as a dict (see the module docstring)."""
    import tensorflow as tf

    from ecgsl_keras.modeling.models import MaskedSegmentModel

    if not isinstance(model, MaskedSegmentModel):
        raise ConfigError(f"bench masked needs a stage-2 masked model, got {model.name!r}")
    max_beats = int(model.input["beats"].shape[1] or 0) or None
    if max_beats is None:
        max_beats = int(model.get_layer("positional_encoding").max_beats)
    dataset = make_dataset(str(data), split=split, mode="sequence", target="beats", training=False,
                           batch_size=batch_size, max_beats=max_beats, eval_stride=max_beats,
                           # padded to max_beats: the inference masks of models saved before issue 22
                           # (SegmentMasking without max_beats) depend on the batch's beat axis
                           length_aware=False)

    @tf.function(reduce_retracing=True)
    def forward(x):
        return model(x, training=False)

    spaces = {}   # space name -> {predictor: [sum of per-beat errors], "n": count}
    windows = 0
    for features, beats in dataset:
        out = {k: np.asarray(v) for k, v in forward(features).items()}
        real = features["padding_mask"].numpy()
        masked = out["mask_positions"] > 0.5
        pairs = {}
        if "reconstruction" in out:
            pairs["beats"] = (beats.numpy(), out["reconstruction"])
        else:
            pairs["latent"] = (out["target"], out["prediction"])
        if "rr_prediction" in out:
            pairs["rr"] = (out["rr_target"], out["rr_prediction"])
        for b in range(real.shape[0]):
            if not masked[b].any():
                continue
            for space, (target, prediction) in pairs.items():
                acc = spaces.setdefault(space, {name: 0.0 for name in ("model",) + TRIVIAL} | {"n": 0})
                truth = target[b][masked[b]]
                guesses = trivial_predictions(target[b], real[b], masked[b])
                guesses["model"] = prediction[b][masked[b]]
                for name, guess in guesses.items():
                    acc[name] += float(np.square(guess - truth).mean(axis=1).sum())
                acc["n"] += int(masked[b].sum())
            windows += 1
        if limit is not None and windows >= limit:
            break
    if not spaces:
        raise ConfigError(f"{data}: no masked beats in split {split!r}")
    result = {}
    for space, acc in spaces.items():
        n = max(acc.pop("n"), 1)
        errors = {name: value / n for name, value in acc.items()}
        best = min(TRIVIAL, key=errors.get)
        result[space] = {"errors": errors, "masked_beats": n, "best_trivial": best,
                         "margin": 1.0 - errors["model"] / errors[best] if errors[best] > 0 else None,
                         "within_record_share": errors["record_mean"] / errors["zeros"] if errors["zeros"] > 0 else None,
                         # If beats = record mean + deviations with variance s2 and neighbour correlation
                         # rho, previous-beat error = 2 s2 (1 - rho) and record-mean error = s2.
                         "neighbour_correlation": 1.0 - errors["previous"] / (2.0 * errors["record_mean"])
                         if errors["record_mean"] > 0 else None}
    return {"windows": windows, "split": split, "spaces": result}


def run(args) -> dict:
    import keras

    import ecgsl_keras.modeling  # noqa: F401  (registers the custom objects)

    start = time.perf_counter()
    path = runs.model_path(args.model)
    model = keras.models.load_model(path, compile=False)
    result = masked_diagnostic(model, args.data, split=args.split, batch_size=args.batch_size, limit=args.limit)
    table = {f"{space} ({values['masked_beats']} masked beats)": values["errors"]
             for space, values in result["spaces"].items()}
    return {"model": str(path), "data": str(args.data), **result, "table": table,
            "seconds": round(time.perf_counter() - start, 1)}

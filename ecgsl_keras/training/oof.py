"""Out-of-fold deep outputs for stacking (issue 18): the booster never sees a deep output for a record
that the deep model trained on.

    folds = read_record_labels(data, "train")                      # record id -> label
    fold_of = stacking.assign_folds(ids, labels, k=5, seed=42)
    write_fold_data(data, out / "fold_0", fold_of, 0)              # train: folds != 0, validation: fold 0
    ... train one classifier per fold folder (``python -m ecgsl_keras.train --data out/fold_i ...``) ...
    table = oof_outputs(data, [run_0, ..., run_4], fold_of)        # train records: their fold's model;
                                                                   # validation records: mean of the k models

Each fold folder holds the fold's own split of the TRAINING records of ``data`` (a re-split of its
train shards, byte-identical examples): ``train`` = the records of the other folds, ``validation`` = the
fold's records (early stopping and the best epoch of the fold model are chosen on them, so the
package's validation split plays no part in any deep-model choice). Its ``record_ids.json`` lists the
training record ids of the fold model: ``check_out_of_fold`` intersects them with the records each
model predicted.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ecgsl_keras.errors import ConfigError, ECGSLError
from ecgsl_keras.evaluation import evaluate as evaluate_lib
from tfrecords_tools import ShardedWriter, list_shards, load_manifest, parse

log = logging.getLogger(__name__)

RECORD_IDS_NAME = "record_ids.json"
OOF_SOURCE_MEAN = "mean_of_folds"


def _examples(data, split):
    """(record_id, label vector, serialized) of every example of ``split``, in shard order."""
    import tensorflow as tf

    for path in list_shards(str(data), split):
        compression = "GZIP" if str(path).endswith(".gz") else ""
        for serialized in tf.data.TFRecordDataset(str(path), compression_type=compression):
            parsed = parse(serialized)
            yield parsed["record_id"].numpy().decode(), parsed["label"].numpy(), serialized.numpy()


def read_record_labels(data, split: str = "train") -> dict:
    """record id -> first label value of its first example (record-level multiclass labels)."""
    out = {}
    for record_id, label, _ in _examples(data, split):
        out.setdefault(record_id, int(label[0]) if len(label) else -1)
    return out


def write_fold_data(data, out_dir, fold_of: dict, fold: int, *, split: str = "train") -> dict:
    """Fold folder ``out_dir``: ``train`` = the examples of ``split`` whose record is in another fold,
    ``validation`` = those of fold ``fold``; the manifest metadata (signal config, label info) of
    ``data``. Skipped when ``out_dir`` is already finished (manifest and ``record_ids.json``).
    Returns ``{"train": [ids], "validation": [ids]}`` (also written to ``record_ids.json``)."""
    out_dir = Path(out_dir)
    ids_file = out_dir / RECORD_IDS_NAME
    if (out_dir / "manifest.json").is_file() and ids_file.is_file():
        return json.loads(ids_file.read_text())
    manifest = load_manifest(data)
    ids = {"train": set(), "validation": set()}
    with ShardedWriter(out_dir, prefix=manifest.get("prefix") or "data", overwrite=True) as writer:
        for record_id, _, serialized in _examples(data, split):
            if record_id not in fold_of:
                raise ECGSLError(f"{data}: record {record_id} of split {split!r} has no fold")
            target = "validation" if int(fold_of[record_id]) == int(fold) else "train"
            writer.write_serialized(serialized, split=target)
            ids[target].add(record_id)
        writer.finalize(dict(manifest.get("metadata") or {}, fold={"fold": int(fold), "source": str(data),
                                                                   "source_split": split}))
    result = {key: sorted(values) for key, values in ids.items()}
    ids_file.write_text(json.dumps(result) + "\n")
    return result


def training_record_ids(fold_dir) -> set:
    """The records a fold model trained on (``record_ids.json`` of its fold folder)."""
    path = Path(fold_dir) / RECORD_IDS_NAME
    if not path.is_file():
        raise ConfigError(path, "missing_file", "no record_ids.json: not a fold folder of write_fold_data")
    return set(json.loads(path.read_text())["train"])


# --- deep outputs -----------------------------------------------------------------------------------

def _pooled_model(model, config, task):
    """(inputs -> [probabilities, pooled]) for a classifier; the temporal encoder (per-beat hidden
    states, mean-pooled by the caller) of a masked-segment (pre-trained, label-free) model: its
    weights copied into a ``temporal_encoder`` by layer name, as fine-tuning initialises one, so no
    segment is masked."""
    import keras

    from ecgsl_keras.modeling import models

    names = [layer.name for layer in model.layers]
    if evaluate_lib.is_raw_window_model(model):      # the ResNet baseline: probabilities, no pooled beats
        return model, "raw_window"
    if models.POOLING in names:
        pooled = model.get_layer(models.POOLING).output[0]
        return keras.Model(model.input, [model.output, pooled]), "classifier"
    if "segment_masking" not in names:
        raise ConfigError(getattr(model, "name", "<model>"), "bad_model",
                          "neither a classifier (no 'pooling' layer) nor a masked-segment model")
    classifier = models.build_classifier(config.model, task, pretrained=model)
    return classifier.get_layer("temporal_encoder"), "encoder"


def deep_outputs(model, data, split, config, task, *, embedding: bool = False, batch_size=None) -> dict:
    """Per-record deep outputs of ``model`` on ``split`` of the TFRecord folder ``data``, each the
    mean over the record's evaluation windows (as ``evaluate`` averages them):
    ``{"record_id": (n,), "targets": (n,), "probabilities": (n, C) or None, "embedding": (n, D) or None}``.
    Classifier: probabilities, and with ``embedding`` its pooled representation (the ``pooling``
    layer's output, before the head). Masked-segment (encoder) model: the masked mean over beats of
    the temporal encoder's output (no probabilities: it never saw labels). The ResNet baseline
    (``--model resnet1d``): probabilities only, over its own input windows (``evaluate.raw_input_of``)."""
    import tensorflow as tf

    net, kind = _pooled_model(model, config, task)
    hybrid = bool(config.model.n_record_features)   # the hybrid classifier takes the record features too

    raw_input = evaluate_lib.raw_input_of(model, config, data) if kind == "raw_window" else None
    if raw_input is not None and embedding:
        raise ConfigError(getattr(model, "name", "<model>"), "bad_model", "the ResNet baseline has no pooled embedding")

    @tf.function(reduce_retracing=True)
    def forward(inputs):
        if kind == "raw_window":
            return net(inputs, training=False)
        if kind == "classifier":
            probabilities, pooled = net(inputs, training=False)
            return tf.concat([probabilities, pooled], axis=-1)
        hidden = net(inputs, training=False)
        mask = tf.cast(inputs["padding_mask"], hidden.dtype)[..., None]
        return tf.reduce_sum(hidden * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)

    def predict(features):
        return forward(evaluate_lib.model_inputs(features, raw_window=raw_input is not None, record_features=hybrid))

    dataset = evaluate_lib.eval_dataset(data, split, config, task, batch_size, raw_input=raw_input)
    windows = evaluate_lib.predict_windows(predict, dataset)
    agg = evaluate_lib.aggregate(windows, task.kind)
    values = np.asarray(agg["probabilities"], np.float64)
    n_classes = task.num_classes if kind in ("classifier", "raw_window") else 0
    return {"record_id": np.asarray(agg["keys"]).astype(str), "targets": np.asarray(agg["targets"]),
            "probabilities": values[:, :n_classes] if n_classes else None,
            "embedding": values[:, n_classes:] if (embedding or kind == "encoder") else None}


def oof_outputs(data, fold_dirs, run_dirs, *, train_split: str = "train", validation_split: str = "validation",
                embedding: bool = False) -> dict:
    """Out-of-fold deep outputs of the training records and the k-model mean on the validation records.

    ``fold_dirs[i]`` is the fold folder (``write_fold_data``) and ``run_dirs[i]`` the run folder of the
    classifier trained on it. A training record's output comes from the one model whose fold folder
    held it out (its ``validation`` split there); a validation record's is the mean of the k models'
    outputs. Returns ``{split: {"record_id", "targets", "probabilities", "embedding", "source"}}``,
    ``source`` the fold index that produced each row (``OOF_SOURCE_MEAN`` for the mean)."""
    from ecgsl_keras.evaluation.evaluate import load_model

    parts, means = [], []
    for i, (fold_dir, run_dir) in enumerate(zip(fold_dirs, run_dirs)):
        model, config, task, _ = load_model(run_dir)
        held = deep_outputs(model, fold_dir, "validation", config, task, embedding=embedding)
        held["source"] = np.full(len(held["record_id"]), str(i))
        trained_on = training_record_ids(fold_dir)
        leaked = trained_on.intersection(held["record_id"].tolist())
        if leaked:
            raise ECGSLError(f"fold {i}: {len(leaked)} records both trained on and predicted, e.g. {sorted(leaked)[:3]}")
        parts.append(held)
        means.append(deep_outputs(model, data, validation_split, config, task, embedding=embedding))
        log.info("fold %d: %d out-of-fold records, %d validation records", i, len(held["record_id"]),
                 len(means[-1]["record_id"]))
    train = {key: (np.concatenate([p[key] for p in parts]) if parts[0][key] is not None else None)
             for key in parts[0]}
    order = np.argsort(train["record_id"], kind="stable")
    train = {key: (value[order] if value is not None else None) for key, value in train.items()}
    if len(set(train["record_id"].tolist())) != len(train["record_id"]):
        raise ECGSLError("a training record is in more than one fold's held-out split")
    first = means[0]
    for other in means[1:]:
        if not np.array_equal(other["record_id"], first["record_id"]):
            raise ECGSLError("the fold models saw different validation records")
    validation = {"record_id": first["record_id"], "targets": first["targets"],
                  "source": np.full(len(first["record_id"]), OOF_SOURCE_MEAN)}
    for key in ("probabilities", "embedding"):
        validation[key] = None if first[key] is None else np.mean([m[key] for m in means], axis=0)
    return {train_split: train, validation_split: validation}


def check_out_of_fold(table: dict, fold_dirs) -> dict:
    """Raise ``ECGSLError`` if any row of ``table`` (``oof_outputs``) comes from a model that trained on
    its record; returns the counts checked. A row from fold i must not be in fold i's training ids; a
    row from the mean of the folds must be in none of them."""
    trained = [training_record_ids(d) for d in fold_dirs]
    checked = 0
    for split, part in table.items():
        for record_id, source in zip(part["record_id"].tolist(), part["source"].tolist()):
            models = range(len(trained)) if source == OOF_SOURCE_MEAN else [int(source)]
            for i in models:
                if record_id in trained[i]:
                    raise ECGSLError(f"{split} record {record_id}: its deep output comes from fold model {i}, "
                                     "which trained on it")
            checked += 1
    return {"rows_checked": checked, "folds": len(trained)}

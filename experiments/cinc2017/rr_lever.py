"""Issue 18, AF lever (g): a small Keras model on the RR-interval sequence alone, trained on the shipped preset's
5 folds, its out-of-fold probabilities added to the shipped recipe (the 118-column booster averaged with the mean
of ECG-SL and the 1-D ResNet, deep weight 0.5).

    python experiments/cinc2017/rr_lever.py --data /work/runs/oof/prepared_raw --work /work/runs/oof/rr \
        --lever-work /work/runs/oof/lever [--steps rr cv validate] [--out experiments/cinc2017/af31_results.json]

Why this lever: AF is an irregularly irregular rhythm. The booster's RR columns are hand-made summaries (cv, RMSSD,
AFEv, COSEn, ...), ECG-SL sees each beat with 3 RR numbers and the ResNet 30 s windows of the signal; none of them
reads the ORDER of the intervals over the whole record, which is where AF (no pattern) and the ectopy-driven Other
rhythms (bigeminy, trigeminy: a repeating pattern; isolated premature beats) differ. A model on the RR sequence
alone is a few thousand weights and seconds per epoch on the CPU.

``rr``        per record of ``--data`` (``oof_from_preset.py``'s prepared folder: the package's beats, their RR
              features from the native-rate R-peaks, the kept beats only) the sequence of the beats' (previous RR,
              next RR, local mean RR) divided by the record's median previous RR, their difference (next - previous)
              / median, and log(median RR in s) on every beat; at most ``MAX_BEATS`` beats, padded and masked.
              Model (``rr_model``, fixed before any figure): 3 Conv1D (32 filters, kernel 5, dilation 1, 2, 4, ReLU)
              -> masked mean and masked max over beats -> Dense 32 ReLU -> Dropout 0.3 -> softmax over N, A, O, ~.
              Adam 1e-3, batch 64, at most 60 epochs, early stopping on the loss of an inner 10% of the fold's
              training records (stratified, never the held-out fold; patience 8, best weights), unweighted
              cross-entropy; 3 training seeds (42-44) per fold, their probabilities averaged. Out of fold for the
              training records (the folds of ``--deep-oof``: the preset's), the mean of the 15 models for
              validation records. Written to ``--out-npz`` (committed, ``oof/rr_oof.npz``: ``record_id``,
              ``names``, ``X``, as ``af_lever.py --extra-features`` reads).
``cv``        the two forms of the lever against the shipped recipe (af_lever's ``Lever`` on the committed inputs,
              its cached boosters):
              ``rr_columns``  the 4 RR-model probabilities as 4 more booster columns (deep side unchanged);
              ``rr_deep``     the RR model as a third deep set: deep side = mean(ECG-SL, ResNet, RR model), booster
                              unchanged.
``validate``  validation (1,364 records) of the shipped recipe on the regenerated inputs (booster seeds 42-44 on
              the whole training split) and of the kept form only, if any.

KEEP RULE (fixed before any figure): af_lever's rule (``Lever.beats``: CV AF F1, mean over booster seeds, rises by
more than the larger seed sd of both rows and CV macro F1 does not drop by more than it), applied to each form on
seeds 42-44 against ``base`` AND on fresh seeds 45-47 against ``base_fresh_seeds``; a form is kept only if both
hold; if both forms are kept, the one with the higher CV AF F1 on seeds 42-44. Validation is scored only for the
kept form. The RR model's own training noise is not in the booster seeds' spread (its 3 training seeds are
averaged into one set).

Last stdout line one JSON object; ``--out`` key ``af_lever_rr``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, Lever, paired  # noqa: E402
from experiments.cinc2017.features import LABELS, _metrics, _summary  # noqa: E402
from experiments.cinc2017.oof_table import (DEFAULT_FEATURES_NPZ, DEFAULT_NPZ, add_command, load_deep_oof,  # noqa: E402
                                          timed_steps)

log = logging.getLogger("experiments.cinc2017.rr_lever")
STEPS = ("rr", "cv", "validate")
MAX_BEATS = 200
CHANNELS = ("prev_rr_norm", "next_rr_norm", "local_rr_norm", "delta_rr_norm", "log_median_rr_s")
TRAIN_SEEDS = (42, 43, 44)
EPOCHS, PATIENCE, BATCH, INNER = 60, 8, 64, 0.1
FORMS = ("rr_columns", "rr_deep")
AF_TARGET = 0.85     # issue 18's validation target for AF F1


def rr_sequences(data, split) -> tuple:
    """(record ids, (n, MAX_BEATS, len(CHANNELS)) float32, (n, MAX_BEATS) bool mask, labels) of one split of a
    prepared folder: per record the beats' RR features divided by the record's median previous RR."""
    from tfrecords_tools import read_examples

    ids, seqs, masks, labels = [], [], [], []
    for ex in read_examples(str(data), split):
        rr = np.asarray(ex.rr, np.float64)[:MAX_BEATS]
        med = float(np.median(rr[:, 0])) if len(rr) else 1.0
        med = med if np.isfinite(med) and med > 0 else 1.0
        x = np.zeros((MAX_BEATS, len(CHANNELS)), np.float32)
        n = len(rr)
        norm = np.clip(np.nan_to_num(rr / med, nan=1.0), 0.0, 4.0)
        x[:n, :3] = norm
        x[:n, 3] = norm[:, 1] - norm[:, 0]
        x[:n, 4] = np.log(med)
        m = np.zeros(MAX_BEATS, bool)
        m[:n] = True
        ids.append(ex.record_id)
        seqs.append(x)
        masks.append(m)
        labels.append(int(ex.label[0]))
    return np.asarray(ids), np.stack(seqs), np.stack(masks), np.asarray(labels)


def rr_model(seed: int):
    """The RR-sequence classifier (fixed before any figure, see the module docstring)."""
    import keras
    from keras import layers, ops

    keras.utils.set_random_seed(seed)
    x_in = keras.Input((MAX_BEATS, len(CHANNELS)), name="rr_sequence")
    m_in = keras.Input((MAX_BEATS,), name="rr_mask")
    mask = ops.expand_dims(ops.cast(m_in, "float32"), -1)
    h = x_in
    for dilation in (1, 2, 4):
        h = layers.Conv1D(32, 5, padding="same", dilation_rate=dilation, activation="relu")(h) * mask
    count = ops.maximum(ops.sum(mask, axis=1), 1.0)
    mean = ops.sum(h, axis=1) / count
    peak = ops.max(h + (mask - 1.0) * 1e4, axis=1)     # padded beats never win the max
    h = layers.Concatenate()([mean, peak])
    h = layers.Dense(32, activation="relu")(h)
    h = layers.Dropout(0.3)(h)
    out = layers.Dense(len(LABELS), activation="softmax")(h)
    model = keras.Model([x_in, m_in], out, name="rr_sequence_model")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return model


def _inner_split(y, seed) -> np.ndarray:
    """Boolean mask of the inner early-stopping records: INNER of each class, at random (seed)."""
    rng = np.random.default_rng(seed)
    inner = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        inner[rng.choice(idx, max(1, int(round(INNER * len(idx)))), replace=False)] = True
    return inner


def step_rr(args) -> dict:
    import keras

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    table = load_deep_oof(args.deep_oof)
    fold_of = table["fold_of"]
    cache = work / "sequences.npz"
    if not cache.is_file():
        parts = {}
        for split in ("train", "validation"):
            ids, x, m, y = rr_sequences(args.data, split)
            parts.update({f"{split}_ids": ids, f"{split}_x": x, f"{split}_m": m, f"{split}_y": y})
        np.savez_compressed(cache, **parts)
    seq = np.load(cache)
    ids_t, x_t, m_t, y_t = (seq[f"train_{k}"] for k in ("ids", "x", "m", "y"))
    x_v, m_v = seq["validation_x"], seq["validation_m"]
    fold = np.array([fold_of[str(r)] for r in ids_t])
    oof = np.zeros((len(ids_t), len(LABELS)))
    val = np.zeros((len(x_v), len(LABELS)))
    runs = []
    for k in range(args.k):
        for seed in TRAIN_SEEDS:
            path = work / f"fold{k}_s{seed}.npz"
            if not path.is_file():
                t0 = time.perf_counter()
                train = np.flatnonzero(fold != k)
                inner = _inner_split(y_t[train], seed + 100 * k)
                fit, stop = train[~inner], train[inner]
                model = rr_model(seed + 100 * k)
                hist = model.fit([x_t[fit], m_t[fit]], y_t[fit], validation_data=([x_t[stop], m_t[stop]], y_t[stop]),
                                 epochs=EPOCHS, batch_size=BATCH, verbose=0, shuffle=True,
                                 callbacks=[keras.callbacks.EarlyStopping(patience=PATIENCE, restore_best_weights=True)])
                held = np.flatnonzero(fold == k)
                np.savez(path, held=held, p_held=model.predict([x_t[held], m_t[held]], verbose=0, batch_size=256),
                         p_val=model.predict([x_v, m_v], verbose=0, batch_size=256),
                         epochs=len(hist.history["loss"]), best=int(np.argmin(hist.history["val_loss"])) + 1,
                         seconds=time.perf_counter() - t0)
            got = np.load(path)
            oof[got["held"]] += got["p_held"] / len(TRAIN_SEEDS)
            val += got["p_val"] / (args.k * len(TRAIN_SEEDS))
            runs.append({"fold": k, "seed": seed, "epochs": int(got["epochs"]), "best_epoch": int(got["best"]),
                         "seconds": round(float(got["seconds"]), 1)})
            log.info("fold %d seed %d: %s", k, seed, runs[-1])
    names = [f"rr_p_{c}" for c in LABELS]
    out = Path(args.out_npz)
    np.savez_compressed(out, record_id=np.concatenate([ids_t, seq["validation_ids"]]), names=np.array(names),
                        X=np.concatenate([oof, val]).astype(np.float32),
                        split=np.array(["train"] * len(ids_t) + ["validation"] * len(x_v)))
    return {"npz": str(out.relative_to(REPO)), "bytes": out.stat().st_size, "channels": list(CHANNELS),
            "max_beats": MAX_BEATS, "train_seeds": list(TRAIN_SEEDS), "runs": runs,
            "params": int(rr_model(0).count_params()),
            "seconds_per_epoch": float(np.sum([r["seconds"] for r in runs]) / np.sum([r["epochs"] for r in runs])),
            "oof_train": _metrics(y_t, oof.argmax(-1))}    # no validation figure: only the kept form's is scored


def _lever(args) -> Lever:
    ns = argparse.Namespace(features=str(args.features), deep_oof=args.deep_oof, ecgsl=None, resnet=None,
                            work=str(args.lever_work or Path(args.work) / "lever"), k=args.k)
    return Lever(ns)


def _rr_columns(lever, args, split) -> np.ndarray:
    data = np.load(args.out_npz)
    rows = {str(r): i for i, r in enumerate(data["record_id"])}
    return data["X"][[rows[r] for r in lever.ids[split]]].astype(np.float64), [str(n) for n in data["names"]]


def step_cv(args) -> dict:
    lever = _lever(args)
    base = {"42-44": lever.cv_row("base", BASE, SEEDS), "45-47": lever.cv_row("base", BASE, FRESH)}
    rr, names = _rr_columns(lever, args, "train")
    X = np.concatenate([lever.X["train"], rr], axis=1)
    out = {"base": base, "forms": {}}
    deep_shipped = lever.deep["train"]
    for form in FORMS:
        rows = {}
        for key, seeds in (("42-44", SEEDS), ("45-47", FRESH)):
            if form == "rr_columns":
                rows[key] = lever.cv_row("rr_columns", BASE, seeds, X=X, names=lever.names + names)
            else:
                lever.deep["train"] = (2 * deep_shipped + rr) / 3
                rows[key] = lever.cv_row("base", BASE, seeds)
                lever.deep["train"] = deep_shipped
            rows[key]["beats_base"] = Lever.beats(rows[key], base[key])
        rows["paired"] = paired(rows["42-44"]["runs"] + rows["45-47"]["runs"], base["42-44"]["runs"] + base["45-47"]["runs"])
        rows["kept"] = rows["42-44"]["beats_base"] and rows["45-47"]["beats_base"]
        out["forms"][form] = rows
        log.info("%s: AF %.4f / %.4f (base %.4f / %.4f), macro %.4f / %.4f (base %.4f / %.4f), kept %s", form,
                 rows["42-44"]["af_f1"]["mean"], rows["45-47"]["af_f1"]["mean"], base["42-44"]["af_f1"]["mean"],
                 base["45-47"]["af_f1"]["mean"], rows["42-44"]["macro_f1"]["mean"], rows["45-47"]["macro_f1"]["mean"],
                 base["42-44"]["macro_f1"]["mean"], base["45-47"]["macro_f1"]["mean"], rows["kept"])
    kept = [f for f in FORMS if out["forms"][f]["kept"]]
    out["chosen"] = max(kept, key=lambda f: out["forms"][f]["42-44"]["af_f1"]["mean"]) if kept else None
    return out


def step_validate(args, chosen) -> dict:
    """The shipped recipe on the regenerated inputs and the kept form (if any), booster seeds 42-44."""
    lever = _lever(args)
    rr_t, names = _rr_columns(lever, args, "train")
    rr_v, _ = _rr_columns(lever, args, "validation")
    y = lever.y["validation"]
    rows = {"base": None} if chosen is None else {"base": None, chosen: None}
    for form in rows:
        runs = []
        for seed in SEEDS:
            if form == "rr_columns":
                clf = lever._clf(lever.names + names, BASE, seed).fit(np.concatenate([lever.X["train"], rr_t], 1),
                                                                       lever.y["train"])
                p = clf.predict_proba(np.concatenate([lever.X["validation"], rr_v], 1))
            else:
                p = lever._clf(lever.names, BASE, seed).fit(lever.X["train"], lever.y["train"]).predict_proba(
                    lever.X["validation"])
            deep = (2 * lever.deep["validation"] + rr_v) / 3 if form == "rr_deep" else lever.deep["validation"]
            runs.append(dict(seed=seed, **_metrics(y, (0.5 * p + 0.5 * deep).argmax(-1))))
        rows[form] = {"runs": runs, "summary": _summary(runs), "records": int(len(y))}
    return rows


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="oof_from_preset.py's prepared folder (WORK/prepared_raw)")
    p.add_argument("--work", required=True)
    p.add_argument("--steps", nargs="*", choices=STEPS, default=list(STEPS))
    p.add_argument("--deep-oof", type=Path, default=DEFAULT_NPZ)
    p.add_argument("--features", type=Path, default=DEFAULT_FEATURES_NPZ)
    p.add_argument("--out-npz", type=Path, default=HERE / "oof" / "rr_oof.npz")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--lever-work", type=Path, help="af_lever's work folder whose cached boosters to reuse (default "
                                                   "WORK/lever; oof_from_preset.py's base step: ITS_WORK/lever)")
    p.add_argument("--out", type=Path, default=HERE / "af31_results.json")
    args = p.parse_args(argv)
    saved = json.loads(args.out.read_text()) if args.out.is_file() else {}
    result = saved.get("af_lever_rr", {})
    def run(step):
        if step == "rr":
            result["rr_model"] = step_rr(args)
        elif step == "cv":
            result["cv"] = step_cv(args)
        else:
            result["validation"] = step_validate(args, result["cv"]["chosen"])

    timed_steps(args.steps, run, result, saved, "af_lever_rr", args.out, log)
    command = add_command(result, "rr_lever.py", argv, latest=True)
    result["keep_rule"] = ("af_lever's rule (CV AF F1 mean over booster seeds rises by more than the larger seed sd of "
                           "both rows, CV macro F1 does not drop by more than it) on seeds 42-44 against base AND on "
                           "fresh seeds 45-47 against base_fresh_seeds; both forms kept: the higher CV AF F1 on "
                           "42-44; validation only for the kept form")
    if "validation" in result:       # the distance to the target of what the CV keeps (the shipped recipe if nothing)
        chosen = (result.get("cv") or {}).get("chosen") or "base"
        af = result["validation"][chosen]["summary"]["per_class_f1"]["A"]["mean"]
        shipped = json.loads((HERE / "ship_results.json").read_text())["shipped"]["per_class_f1"]["A"]
        result["af_target"] = {"target": AF_TARGET, "row": chosen, "validation_af_f1": af, "short_by": AF_TARGET - af,
                               "shipped_preset_validation_af_f1": shipped, "shipped_short_by": AF_TARGET - shipped}
    saved["af_lever_rr"] = result
    args.out.write_text(json.dumps(saved, indent=1) + "\n")
    print(json.dumps({"command": command, "chosen": result.get("cv", {}).get("chosen"),
                      "seconds": result.get("seconds")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Issue 18, AF lever af67: a small CNN on the record's Lorenz-plot image as a third member of the deep side.

    python experiments/cinc2017/lorenz_member.py --work WORK [--steps plan extract train cv] \
        [--cinc-dir ../shared/data/cinc2017/training2017] [--out experiments/cinc2017/af67_results.json]

Reads the committed inputs (``oof/features118.npz``, ``oof/deep_oof.npz``: the shipped preset's fold members'
out-of-fold probabilities and folds) through af_lever's ``Lever``, and the CinC signals for the images. Every row is
the recipe's average ``0.5 * booster + 0.5 * deep side`` scored by 5-fold CV on the 5,456 training records (the
preset's folds), against ``base`` (the deep side as shipped: the mean of ECG-SL and the ResNet).

Why, and not blind: af33, af57's gap report and the look at the unanimous Other-called-AF records put the AF errors on
Other records with organised irregularity (ectopic beats in patterns) that every member reads as AF. Both deep
members read the waveform; the rhythm reaches the recipe only through the booster's hand-made columns (AFEv, the
Lorenz cluster counts of af55, entropies). A Lorenz plot shows organised irregularity as separate clusters and AF as
one diffuse cloud, and CNNs on Lorenz-plot images are an established AF detector; a member that learns the plot's
shape is a rhythm view on the deep side, where the recipe has none. Never tried here: af31's member read the RR
sequence, af55 counted clusters by a fixed rule.

Image (``lorenz_image``, fixed before any figure): R-peaks of ``signal.find_rpeaks`` on ``signal.clean`` (record
features' detector, default ``SignalConfig``), RR in s, ``m`` the median RR. Channel 0: the points
``(RR_i / m, RR_i+1 / m)`` on a 24 x 24 grid over [0.25, 2.25) in each axis; channel 1: the successive differences
``(dRR_i / m, dRR_i+1 / m)`` on a 24 x 24 grid over [-0.75, 0.75) (the plot AFEv reads); points outside a grid go to
its edge cells; each channel the share of its points per cell. Fewer than ``MIN_RR`` intervals or no R-peaks: an
all-zero image. The CNN reads the square root of the shares.

Member (``build_member``, fixed): Conv2D 16 (3 x 3, ReLU, same) - max-pool 2 - Conv2D 32 (3 x 3, ReLU, same) -
max-pool 2 - flatten - dropout 0.3 - dense 32 (ReLU) - dense 4 (softmax). Adam 0.001, batch 64, ``EPOCHS`` (30)
epochs fixed (no epoch chosen on a held record), balanced class weights. For each of the preset's 5 folds it trains on
the other 4 folds' training records and scores the held fold; training seeds 42, 43 and 44, the member the mean of the
three (af53's form). Validation records only if kept.

Variants (``VARIANTS``): ``three_members`` (PRIMARY, the only one that can be kept): the deep side the mean of ECG-SL,
the ResNet and the Lorenz member; ``lorenz_for_ecgsl`` (information): the mean of the ResNet and the Lorenz member. The
booster side is the shipped booster (af_lever ``BASE``, its cached out-of-fold outputs). The member alone on the CV
is reported (information).

KEEP RULE (af36's, ``af_lever.seed_set_row``): af_lever's rule (CV AF F1 mean over booster seeds rises by more than
the larger seed sd of both rows, CV macro F1 does not drop by more than it) on seeds 42-44 against ``base`` AND on
45-47 against ``base_fresh_seeds``, and paired over seeds 42-47 the mean AF F1 gain above its sd and the mean macro
F1 difference not below minus its sd.

Images in WORK/rows and WORK/lorenz.npz (``oof_table.extract_columns``, resumable), the member's out-of-fold
probabilities in WORK/member_s<seed>.npy (resumable by training seed); last stdout line one JSON object; ``--out`` key
``lorenz_member``.
"""
from __future__ import annotations

import functools
import logging
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, PlannedLever, af36_keep_rule, variants_cv  # noqa: E402
from experiments.cinc2017.features import LABELS, _metrics  # noqa: E402
from experiments.cinc2017.oof_table import (cinc_dir_argument, detector_rr, extract_columns, lever_main,  # noqa: E402
                                             table_rows)

log = logging.getLogger("experiments.cinc2017.lorenz_member")
STEPS = ("plan", "extract", "train", "cv")
PLAN_PATH = HERE / "af67_plan.json"
MIN_RR = 12
GRID = 24
RANGES = ((0.25, 2.25), (-0.75, 0.75))        # channel 0: RR / m; channel 1: dRR / m
TRAINING_SEEDS = (42, 43, 44)
EPOCHS, BATCH, LEARNING_RATE = 30, 64, 1e-3
VARIANTS = {"three_members": "mean of ECG-SL, the ResNet and the Lorenz member (PRIMARY)",
            "lorenz_for_ecgsl": "mean of the ResNet and the Lorenz member (information)"}
PRIMARY = "three_members"
KEEP_RULE = af36_keep_rule("three_members", "validation and a preset only if kept")
PLAN = {"lever": "af67 a small CNN on the record's Lorenz-plot image as a third deep member", "blind": False,
        "why": "af33 / af57 gap report / the unanimous Other-called-AF look: organised irregularity read as AF; both "
               "deep members read the waveform, the rhythm reaches the recipe only through hand-made columns; a "
               "learned Lorenz-plot view on the deep side was never tried (af31: RR sequence; af55: cluster counts)",
        "image": {"rpeaks": "signal.find_rpeaks on signal.clean (default SignalConfig)", "grid": GRID,
                  "channel_0": f"(RR_i / median RR, RR_i+1 / median RR) over {list(RANGES[0])}",
                  "channel_1": f"(dRR_i / median RR, dRR_i+1 / median RR) over {list(RANGES[1])}",
                  "cells": "share of the channel's points; outside points to the edge cells; CNN input sqrt(share)",
                  "min_rr": MIN_RR},
        "member": {"layers": "Conv2D 16 3x3 relu same, maxpool 2, Conv2D 32 3x3 relu same, maxpool 2, flatten, "
                             "dropout 0.3, dense 32 relu, dense 4 softmax",
                   "training": {"optimizer": "adam", "learning_rate": LEARNING_RATE, "batch": BATCH,
                                "epochs": EPOCHS, "class_weight": "balanced", "epoch_choice": "none (fixed)"},
                   "folds": "the preset's 5 folds, out of fold", "training_seeds": list(TRAINING_SEEDS),
                   "member": "mean of the training seeds' probabilities"},
        "variants": VARIANTS, "primary": PRIMARY, "booster": "the shipped booster (af_lever BASE)",
        "keep_rule": KEEP_RULE, "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


def lorenz_image(rr) -> np.ndarray:
    """(GRID, GRID, 2) float32 shares of an RR series' (s, in beat order) Lorenz plot and successive-difference plot,
    normalised by its median RR; zeros under ``MIN_RR`` intervals."""
    rr = np.asarray(rr, np.float64).reshape(-1)
    image = np.zeros((GRID, GRID, 2), np.float32)
    rr = rr[np.isfinite(rr) & (rr > 0)]
    if rr.size < MIN_RR:
        return image
    x = rr / np.median(rr)
    d = np.diff(x)
    for c, (a, b) in enumerate(((x[:-1], x[1:]), (d[:-1], d[1:]))):
        lo, hi = RANGES[c]
        i = np.clip(((a - lo) / (hi - lo) * GRID).astype(int), 0, GRID - 1)
        j = np.clip(((b - lo) / (hi - lo) * GRID).astype(int), 0, GRID - 1)
        np.add.at(image[:, :, c], (i, j), 1.0)
        image[:, :, c] /= len(a)
    return image


def lorenz_row(signal, fs) -> np.ndarray:
    """``lorenz_image`` of a record's RR series on record_features' R-peaks, flattened (``extract_columns``' row; an
    empty image where the detector fails)."""
    rr = detector_rr(signal, fs)
    return lorenz_image([] if rr is None else rr).reshape(-1)


def build_member(seed: int):
    """The plan's CNN (compiled), its weights drawn from ``seed``."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((GRID, GRID, 2), name="lorenz")
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    outputs = keras.layers.Dense(len(LABELS), activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="lorenz_member")
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="sparse_categorical_crossentropy")
    return model


def member_input(images) -> np.ndarray:
    """The CNN's input of images (any shape holding ``(GRID, GRID, 2)`` each): the square root of the shares."""
    return np.sqrt(np.asarray(images, np.float32).reshape(-1, GRID, GRID, 2))


def train_member(images, y, seed: int):
    """The plan's member (weights drawn from ``seed``) trained on ``images`` and labels ``y``: the fixed schedule,
    balanced class weights."""
    from sklearn.utils.class_weight import compute_class_weight

    classes = np.unique(y)
    weight = dict(zip(classes.tolist(), compute_class_weight("balanced", classes=classes, y=y)))
    model = build_member(seed)
    model.fit(member_input(images), y, batch_size=BATCH, epochs=EPOCHS, class_weight=weight, verbose=0)
    return model


def member_oof(images, y, fold, seed: int, k: int = 5) -> np.ndarray:
    """(n, 4) out-of-fold probabilities of the plan's member (training seed ``seed``): fold h scored by the member
    trained on the other folds only (its weights drawn from ``seed + 1000 h``)."""
    out = np.zeros((len(y), len(LABELS)))
    for h in range(k):
        keep = fold != h
        model = train_member(images[keep], y[keep], seed + 1000 * h)
        out[~keep] = model.predict(member_input(images[~keep]), batch_size=256, verbose=0)
    return out


def seed_mean(work) -> np.ndarray:
    """The member's out-of-fold probabilities in ``work`` (this script's WORK): the mean over the training seeds'
    ``member_s<seed>.npy`` (a missing one stops with the file named)."""
    paths = [Path(work) / f"member_s{seed}.npy" for seed in TRAINING_SEEDS]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"error: {missing[0]}: not found: run lorenz_member.py --steps train first")
    return np.mean([np.load(p) for p in paths], axis=0)


class LorenzMember(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    def step_extract(self, result):
        names = [f"lz{c}_{i}_{j}" for i in range(GRID) for j in range(GRID) for c in range(2)]
        got = extract_columns(lorenz_row, names, self.args.features, self.args.deep_oof, self.args.cinc_dir,
                              self.work, self.work / "lorenz.npz", log=log)
        rows = table_rows(self.work / "lorenz.npz", self.ids)
        result["extract"] = {"records": len(got["done"]), "training_records": len(self.ids),
                             "empty_images": int((rows.reshape(len(rows), -1).sum(1) == 0).sum()),
                             "ms_per_record_median": round(float(np.median(got["ms"])), 1) if len(got["ms"]) else None}
        log.info("extract: %s", result["extract"])

    @functools.cached_property
    def images(self) -> np.ndarray:
        """The training records' images in ``self.ids``' order (a missing table stops the step first)."""
        return table_rows(self.work / "lorenz.npz", self.ids).reshape(-1, GRID, GRID, 2)

    def step_train(self, result):
        t0, y, fold = time.perf_counter(), self.lever.y["train"], self.lever.fold
        runs = {}
        for seed in TRAINING_SEEDS:
            path = self.work / f"member_s{seed}.npy"
            if not path.is_file():
                np.save(path, member_oof(self.images, y, fold, seed, self.args.k))
                log.info("member seed %d trained (%.0f s)", seed, time.perf_counter() - t0)
            runs[str(seed)] = _metrics(y, np.load(path).argmax(-1))
        alone = _metrics(y, self.member.argmax(-1))
        result["train"] = {"member_alone_cv": alone, "per_training_seed": runs,
                           "seconds": round(time.perf_counter() - t0, 1)}
        log.info("member alone: CV macro %.4f AF %.4f", alone["macro_f1"], alone["per_class_f1"]["A"])

    @functools.cached_property
    def member(self) -> np.ndarray:
        return seed_mean(self.work)

    def step_cv(self, result):
        e, r = self.lever.members["train"]
        sides = {"three_members": (e + r + self.member) / 3.0, "lorenz_for_ecgsl": 0.5 * (r + self.member)}
        result["cv"] = variants_cv(self.lever, VARIANTS, PRIMARY, KEEP_RULE,
                                   lambda variant, seed: self.lever.oof("base", BASE, seed), "lorenz_member",
                                   deep_of=lambda variant, seed: sides[variant])


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "lorenz_member", LorenzMember, KEEP_RULE, argv, extra=cinc_dir_argument)


if __name__ == "__main__":
    sys.exit(main())

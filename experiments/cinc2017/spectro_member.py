"""af52 (issue 18): a third deep member for ``cinc2017``'s deep side, a small 1-D CNN over the record's log
spectrogram (time-frequency input; ECG-SL reads beats, the ResNet the waveform).

Why: af50 and af51 showed that on the validation records no threshold or blend of the served members reaches the AF
target, even chosen there: the members' ranking of AF against Other is the limit. Every member lever so far (more
ECG-SL seeds af39, the ResNet trained longer af45) added a member of a kind the recipe already has. A spectrogram
model sees the atrial activity's frequency content (f waves 4-9 Hz) over the whole record, the way several CinC 2017
entries did (e.g. Zihlmann et al. 2017). Not blind: af50 / af51's validation figures were seen first.

    python experiments/cinc2017/spectro_member.py --work WORK --steps plan spectra train oof cv   # af52
    python experiments/cinc2017/spectro_member.py --work WORK --lever af53 --steps plan train oof cv

``--lever`` (``LEVERS``): af52 trains one seed (42) per fold; af53 (after af52's figures, not blind to them) the same
member with three training seeds per fold (42, 43, 44; seed 42's models are af52's), averaged; af54 (planned before
af53's figures; its own WORK) one seed of a member that also reads the record's atrial activity: the spectrogram of
the signal after QRST cancellation (``atrial_spectrum.cancel``) as more input channels. Each writes its plan and its
results JSON (``af52_plan.json`` / ``af52_results.json`` key ``spectro_member``; ``af53_*`` key
``spectro_member_seeds``; ``af54_*`` key ``spectro_member_residual``).

``plan``     the lever's plan beside this script, before any figure.
``spectra``  every record of the committed out-of-fold table (training and validation) read with the package's
             reader (``readers.read_lead``, 300 Hz), scaled by its robust spread, STFT (``SPECTRUM``), log1p magnitude
             of the bins up to ``MAX_HZ``: WORK/spectra/<record>.npy (resumable).
``train``    per fold k of the preset's 5 folds: the model trained on the other 4 folds' records, fixed schedule (no
             epoch chosen on any held record), random crops of ``CROP`` frames, balanced class weights, seed 42;
             WORK/fold_k.weights.h5 (a finished fold is skipped; seconds per epoch to WORK/train.json).
``oof``      the held fold's records through fold k's model (windows of ``CROP`` frames, every ``CROP`` plus one ending
             at the record's end, softmax averaged), and the validation records through the mean of the 5 (used only
             if kept): WORK/spectro_oof.npz; the member alone scored out of fold.
``validate`` only for a kept lever: SHIP_RULE's validation rows (1,364 records).
``cv``       af36's keep rule on the recipe: the booster's out-of-fold outputs (af_lever's cached ``base``, seeds
             42-47) averaged with the deep side as shipped (mean of ECG-SL and the ResNet) against the deep side with
             the spectrogram member (VARIANTS; PRIMARY ``three``).

Threads: TensorFlow as configured by default on the 2-core CPU. Last stdout line one JSON object.
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
from experiments.cinc2017.af_lever import BASE, SEEDS, committed_lever, validation_rows, variants_cv  # noqa: E402
from experiments.cinc2017.oof_table import (DEFAULT_FEATURES_NPZ, DEFAULT_NPZ, add_command,  # noqa: E402
                                          cinc_dir_argument, save_results, timed_steps)

log = logging.getLogger("spectro_member")
LEVERS = {   # af53 follows af52's figures (not blind to them): the same member, three training seeds averaged
    "af52": {"seeds": (42,), "key": "spectro_member", "plan": HERE / "af52_plan.json",
             "out": HERE / "af52_results.json"},
    "af53": {"seeds": (42, 43, 44), "key": "spectro_member_seeds", "plan": HERE / "af53_plan.json",
             "out": HERE / "af53_results.json"},
    # af54, planned before af53's figures: the member also reads the atrial activity, the spectrogram of the record
    # after QRST cancellation (af35's median-template cancellation, atrial_spectrum.cancel) as more input channels
    "af54": {"seeds": (42,), "key": "spectro_member_residual", "plan": HERE / "af54_plan.json",
             "out": HERE / "af54_results.json", "inputs": ("signal", "residual")},
}
LABELS = ("N", "A", "O", "~")
SPECTRUM = {"nperseg": 256, "hop": 32}        # 0.85 s frames every 0.107 s at 300 Hz: 1.17 Hz bins
MAX_HZ = 40.0
CROP = 280                                    # frames: 30 s
EPOCHS, BATCH, LR, SEED = 15, 64, 1e-3, 42
VARIANTS = {"three": "deep side = mean of ECG-SL, the ResNet and the spectrogram member (PRIMARY)",
            "spectro_for_resnet": "deep side = mean of ECG-SL and the spectrogram member (information only)"}
PRIMARY = "three"
KEEP_RULE = ("af36's: the PRIMARY variant is kept only if af_lever's rule (CV AF F1, mean over booster seeds, rises "
             "by more than the larger seed sd of both rows, and CV macro F1 does not drop by more than it) holds on "
             "booster seeds 42-44 against the shipped recipe AND on 45-47, and paired over 42-47 the mean AF F1 gain "
             "exceeds its sd and the mean macro F1 difference is not below minus its sd. Validation only if kept")

SHIP_RULE = ("only for a kept lever (af44's rule, written here before af53's CV figures): the booster refit on the "
             "whole training split (booster seeds 42-44), averaged (weight 0.5) with the validation deep side (the "
             "means of the fold members: ECG-SL and the ResNet as shipped, plus this member), against the same "
             "boosters with the shipped deep side; it would ship only if the validation AF F1 (mean over the three "
             "seeds) rises and the validation macro F1 does not drop by more than 0.005. Serving the member needs its "
             "port to a signal-input Keras model first")


def spectrum(signal, fs) -> np.ndarray:
    """(frames, bins) log1p STFT magnitude of ``signal`` scaled by its robust spread (1.4826 x MAD)."""
    from scipy.signal import stft

    x = np.asarray(signal, np.float64)
    x = x - np.median(x)
    spread = 1.4826 * np.median(np.abs(x)) or float(np.std(x)) or 1.0
    f, _, z = stft(x / spread, fs=fs, nperseg=SPECTRUM["nperseg"], noverlap=SPECTRUM["nperseg"] - SPECTRUM["hop"],
                   boundary=None, padded=True)
    return np.log1p(np.abs(z[f <= MAX_HZ])).T.astype(np.float32)


def windows(n_frames, crop=CROP) -> list:
    """Start frames of the windows a record is read in: every ``crop`` plus one ending at the end (one window
    from 0 when shorter)."""
    if n_frames <= crop:
        return [0]
    starts = list(range(0, n_frames - crop + 1, crop))
    if starts[-1] != n_frames - crop:
        starts.append(n_frames - crop)
    return starts


def window(spec, start, crop=CROP) -> np.ndarray:
    out = np.zeros((crop, spec.shape[1]), np.float32)
    part = spec[start:start + crop]
    out[:len(part)] = part
    return out


def build_model(bins, seed=SEED):
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input((CROP, bins), name="log_spectrum")
    x = inp
    for filters, kernel, pool in ((64, 7, True), (64, 7, True), (128, 5, True), (128, 5, False)):
        x = layers.Conv1D(filters, kernel, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        if pool:
            x = layers.MaxPooling1D(2)(x)
    x = layers.Concatenate()([layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)])
    x = layers.Dropout(0.3)(x)
    out = layers.Dense(len(LABELS), activation="softmax")(x)
    return keras.Model(inp, out, name="spectro_member")


class SpectroMember:
    def __init__(self, args, result):
        self.args, self.result = args, result
        self.work = Path(args.work)
        (self.work / "spectra").mkdir(parents=True, exist_ok=True)
        table = np.load(args.deep_oof)
        self.ids = table["record_id"].astype(str)
        self.split = table["split"].astype(str)
        self.fold = table["fold"].astype(int)
        self.y = table["label"].astype(int)
        self.seeds = LEVERS[args.lever]["seeds"]
        self.inputs = LEVERS[args.lever].get("inputs", ("signal",))

    def _weights(self, k, seed) -> Path:
        return self.work / (f"fold_{k}.weights.h5" if seed == SEED else f"fold_{k}_s{seed}.weights.h5")

    def _oof_path(self, seed) -> Path:
        return self.work / ("spectro_oof.npz" if seed == SEED else f"spectro_oof_s{seed}.npz")

    def step_plan(self):
        what = "a spectrogram 1-D CNN as a third member of cinc2017's deep side"
        if len(self.seeds) > 1:
            what += f", the mean of {len(self.seeds)} training seeds per fold ({', '.join(map(str, self.seeds))})"
        if "residual" in self.inputs:
            what += ", reading the record's spectrogram and its QRST-cancelled residual's"
        plan = {"lever": self.args.lever, "what": what, "training_seeds": list(self.seeds),
                "input": f"log1p STFT magnitude, nperseg {SPECTRUM['nperseg']}, hop {SPECTRUM['hop']} at 300 Hz, "
                         f"bins up to {MAX_HZ} Hz, the record scaled by 1.4826 x MAD"
                         + ("; beside it the same of the record after QRST cancellation (atrial_spectrum.cancel; "
                            "zeros where undefined)" if "residual" in self.inputs else ""),
                "schedule": f"{EPOCHS} epochs fixed, batch {BATCH}, Adam {LR} cosine to 0, balanced class weights, "
                            f"random {CROP}-frame crops, seeds {list(self.seeds)}; no epoch chosen on a held record",
                "folds": "the preset's 5 folds (oof/deep_oof.npz); validation through the mean of the 5",
                "variants": VARIANTS, "primary": PRIMARY, "keep_rule": KEEP_RULE,
                "blind": "no: af50 / af51's validation figures were seen first"
                         + ("; af52's CV figures too" if self.args.lever != "af52" else "")
                         + ("; planned before af53's figures" if self.args.lever == "af54" else "")}
        LEVERS[self.args.lever]["plan"].write_text(json.dumps(plan, indent=1) + "\n")
        self.result["plan"] = plan

    def _spec(self, rid) -> np.ndarray:
        """(frames, bins) the member's input: the signal's spectrogram, and with ``residual`` in the lever's inputs
        the residual's beside it (the same frames; zeros where the cancellation is undefined)."""
        spec = np.load(self.work / "spectra" / f"{rid}.npy")
        if "residual" not in self.inputs:
            return spec
        residual = np.load(self.work / "spectra_residual" / f"{rid}.npy")
        if residual.shape[0] == 0:
            residual = np.zeros_like(spec)
        n = spec.shape[0]
        residual = np.pad(residual[:n], ((0, max(0, n - residual.shape[0])), (0, 0)))
        return np.concatenate([spec, residual], axis=1)

    def step_spectra(self):
        from ecgsl_keras.data import readers

        t0, done = time.perf_counter(), 0
        for rid in self.ids:
            path = self.work / "spectra" / f"{rid}.npy"
            if path.is_file():
                continue
            signal, fs, _ = readers.read_lead(Path(self.args.cinc_dir) / rid)
            np.save(path, spectrum(signal, fs))
            done += 1
        if "residual" in self.inputs:
            from experiments.cinc2017.atrial_spectrum import cancel

            folder = self.work / "spectra_residual"
            folder.mkdir(exist_ok=True)
            undefined = 0
            for rid in self.ids:
                path = folder / f"{rid}.npy"
                if path.is_file():
                    continue
                signal, fs, _ = readers.read_lead(Path(self.args.cinc_dir) / rid)
                got = cancel(signal, fs)
                undefined += got is None
                np.save(path, np.zeros((0, 0), np.float32) if got is None else spectrum(got[0], fs))
            self.result["residual_undefined_now"] = int(undefined)
        self.result["spectra"] = {"records": int(len(self.ids)), "computed_now": done,
                                  "bins": int(self._spec(self.ids[0]).shape[1]),
                                  "ms_per_record": round(1000 * (time.perf_counter() - t0) / max(done, 1), 1)}

    def _batches(self, rows, rng):
        """Endless (x, y, weight) batches of random crops of ``rows`` (indices into the table), shuffled."""
        counts = np.bincount(self.y[rows], minlength=len(LABELS))
        class_weight = len(rows) / (len(LABELS) * np.maximum(counts, 1))
        specs = [self._spec(self.ids[i]) for i in rows]
        while True:
            order = rng.permutation(len(rows))
            for s in range(0, len(order) - BATCH + 1, BATCH):
                pick = order[s:s + BATCH]
                x = np.stack([window(specs[j], int(rng.integers(0, max(1, len(specs[j]) - CROP + 1))))
                              for j in pick])
                yy = self.y[rows[pick]]
                yield x, yy, class_weight[yy].astype(np.float32)

    def step_train(self):
        import keras
        import tensorflow as tf

        bins = self._spec(self.ids[0]).shape[1]
        info_path = self.work / "train.json"
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        for seed, k in ((seed, k) for seed in self.seeds for k in range(5)):
            weights = self._weights(k, seed)
            if weights.is_file():
                continue
            rows = np.flatnonzero((self.split == "train") & (self.fold != k))
            steps = len(rows) // BATCH
            model = build_model(bins, seed)
            schedule = keras.optimizers.schedules.CosineDecay(LR, EPOCHS * steps)
            model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                          weighted_metrics=[])
            gen = self._batches(rows, np.random.default_rng(seed + k))
            spec = (tf.TensorSpec((None, CROP, bins), tf.float32), tf.TensorSpec((None,), tf.int64),
                    tf.TensorSpec((None,), tf.float32))
            data = tf.data.Dataset.from_generator(lambda: gen, output_signature=spec).prefetch(2)
            t0 = time.perf_counter()
            history = model.fit(data, epochs=EPOCHS, steps_per_epoch=steps, verbose=0)
            seconds = time.perf_counter() - t0
            model.save_weights(weights)
            info[str(k) if seed == SEED else f"{k}_s{seed}"] = {
                "records": int(len(rows)), "seconds": round(seconds, 1),
                "seconds_per_epoch": round(seconds / EPOCHS, 2),
                "loss": [round(float(v), 4) for v in history.history["loss"]]}
            info_path.write_text(json.dumps(info, indent=1) + "\n")
            log.info("seed %d fold %d: %.0f s (%.1f s per epoch), loss %.3f -> %.3f", seed, k, seconds,
                     seconds / EPOCHS, history.history["loss"][0], history.history["loss"][-1])
        self.result["train"] = info

    def _predict(self, model, rows) -> np.ndarray:
        out = np.zeros((len(rows), len(LABELS)))
        for n, i in enumerate(rows):
            spec = self._spec(self.ids[i])
            x = np.stack([window(spec, s) for s in windows(len(spec))])
            out[n] = model(x, training=False).numpy().mean(0)
        return out

    def step_oof(self):
        from sklearn.metrics import f1_score

        bins = self._spec(self.ids[0]).shape[1]
        val = np.flatnonzero(self.split == "validation")
        train = self.split == "train"
        alone = {}
        for seed in self.seeds:
            path = self._oof_path(seed)
            if path.is_file():
                p = np.load(path)["spectro"].astype(np.float64)
            else:
                p = np.zeros((len(self.ids), len(LABELS)))
                for k in range(5):
                    weights = self._weights(k, seed)
                    if not weights.is_file():
                        raise SystemExit(f"error: {weights}: no such file (run --steps train first)")
                    model = build_model(bins, seed)
                    model.load_weights(weights)
                    held = np.flatnonzero(train & (self.fold == k))
                    p[held] = self._predict(model, held)
                    p[val] += self._predict(model, val) / 5.0
                    log.info("seed %d fold %d predicted", seed, k)
                np.savez(path, record_id=self.ids, split=self.split, spectro=p.astype(np.float32))
            per = f1_score(self.y[train], p[train].argmax(-1), labels=list(range(len(LABELS))), average=None)
            alone[str(seed)] = {"macro_f1": float(per.mean()), "per_class_f1": dict(zip(LABELS, map(float, per)))}
        self.result["oof"] = {"member_alone_train_oof": alone[str(SEED)] if len(self.seeds) == 1 else alone,
                              "records": int(train.sum())}
        if len(self.seeds) > 1:
            mean = self._member()
            per = f1_score(self.y[train], np.stack([mean[i] for i in self.ids[train]]).argmax(-1),
                           labels=list(range(len(LABELS))), average=None)
            self.result["oof"]["seed_mean_alone_train_oof"] = {"macro_f1": float(per.mean()),
                                                              "per_class_f1": dict(zip(LABELS, map(float, per)))}

    def _member(self) -> dict:
        """{record: the member's probabilities}: the mean over this lever's training seeds."""
        parts = []
        for seed in self.seeds:
            path = self._oof_path(seed)
            if not path.is_file():
                raise SystemExit(f"error: {path}: no such file (run --steps oof first)")
            parts.append(np.load(path)["spectro"].astype(np.float64))
        return dict(zip(self.ids, np.mean(parts, axis=0)))

    def _lever(self):
        """af_lever's ``Lever`` over the committed tables, its cached boosters in WORK/lever."""
        return committed_lever(argparse.Namespace(features=self.args.features, deep_oof=self.args.deep_oof,
                                                  work=str(self.work / "lever"), k=5))

    def step_validate(self):
        if not (self.result.get("cv") or {}).get("kept"):
            raise SystemExit("error: the lever is not kept: the validation split is not looked at (SHIP_RULE)")
        self.result["validation"] = _validate(self._lever(), self._member())
        self.result["ship_rule"] = SHIP_RULE

    def step_cv(self):
        member = self._member()
        lever = self._lever()
        e, r, s = members(lever, member, "train")
        sides = {"three": (e + r + s) / 3.0, "spectro_for_resnet": 0.5 * (e + s)}
        out = variants_cv(lever, VARIANTS, PRIMARY, KEEP_RULE, lambda variant, seed: lever.oof("base", BASE, seed),
                          "spectro_member", deep_of=lambda variant, seed: sides[variant])
        self.result["cv"] = out
        self.result["kept"] = out["kept"]


def members(lever, member, split) -> tuple:
    """(ECG-SL, the ResNet, this member): the probabilities of ``split``'s records in the Lever's order (the first
    two: the Lever's ``members``)."""
    return (*lever.members[split], np.stack([member[i] for i in lever.ids[split]]))


def _validate(lever, member, seeds=SEEDS) -> dict:
    """SHIP_RULE's validation rows (``af_lever.validation_rows``): per booster seed, the refit booster averaged with
    the shipped deep side (``without``) and with the member added (``with``)."""
    e, r, s = members(lever, member, "validation")
    table = (lever.X["train"], lever.X["validation"], lever.names)
    sides = {"without": (*table, lever.deep["validation"]), "with": (*table, (e + r + s) / 3.0)}
    return validation_rows(lever, sides, seeds, "with", "without")


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = ("plan", "spectra", "train", "oof", "cv", "validate")
    parser.add_argument("--work", required=True)
    parser.add_argument("--lever", choices=sorted(LEVERS), default="af52",
                        help="af52: one training seed; af53: the mean of three (LEVERS)")
    parser.add_argument("--steps", nargs="+", default=list(steps[:-1]), choices=steps)
    parser.add_argument("--deep-oof", default=str(DEFAULT_NPZ))
    parser.add_argument("--features", default=str(DEFAULT_FEATURES_NPZ))
    parser.add_argument("--out", type=Path, default=None, help="default: the lever's results JSON (LEVERS)")
    cinc_dir_argument(parser)
    args = parser.parse_args(argv)
    key, out = LEVERS[args.lever]["key"], args.out or LEVERS[args.lever]["out"]
    saved = json.loads(out.read_text()) if out.is_file() else {}
    result = saved.get(key, {"issue": 18, "records": "training split out of fold (5,456); validation only if kept",
                             "keep_rule": KEEP_RULE})
    add_command(result, "spectro_member.py", argv)
    lever = SpectroMember(args, result)
    timed_steps(args.steps, lambda step: getattr(lever, f"step_{step}")(), result, saved, key, out, log)
    save_results(out, key, result)
    print(json.dumps({"command": result["commands"][-1], "kept": result.get("kept"),
                      "seconds": result.get("seconds")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

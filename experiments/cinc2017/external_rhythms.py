"""Issue 18, AF lever af69: MIT-BIH rhythm windows as extra training rows of the ``cinc2017`` recipe's booster.

    python experiments/cinc2017/external_rhythms.py --work WORK [--steps plan check extract cv] \
        [--cinc-dir ../shared/data/cinc2017/training2017] [--mitdb-dir ../shared/data/mitdb] \
        [--out experiments/cinc2017/af69_results.json]

Reads the committed inputs (``oof/deep_oof.npz``, ``oof/features118.npz``) through af_lever's ``Lever`` and the
MIT-BIH DS1 records of ``../shared/data/mitdb`` (signal and rhythm annotations). Every row is the shipped recipe's
average ``0.5 * booster + 0.5 * mean(ECG-SL, ResNet)`` scored by 5-fold CV on the 5,456 CinC training records (the
preset's folds), against ``base`` (the same table). The external windows only ever train boosters; none is scored.

Why, and not blind: af33, af55, af57's gap report and the label-audit look put half of the unanimous Other-called-AF
errors on organised irregular rhythms (bigeminy, trigeminy, short-long premature-beat patterns) that every member
reads as AF, and af55 found the training folds hold too few of them for a column to be learned (29 such records in
the CV). MIT-BIH's cardiologists annotated those rhythms interval by interval: bigeminy ``(B``, trigeminy ``(T``,
SVTA, flutter, idioventricular and pre-excited rhythms, beside AF ``(AFIB``. Every lever so far added columns,
members or CinC rows (af48's crops); none brought rows of another database with rhythm labels (blind to any figure of
this lever; the window counts below were looked at while planning).

Windows (fixed before any figure): the 22 DS1 records, lead MLII resampled 360 -> 300 Hz (``filters.resample``, the
CinC rate), cut into consecutive 30 s windows from sample 0 (a shorter tail is dropped). A window's rhythms are the
annotated rhythms in force over it (``window_rhythms``; before the first annotation, the first one). Its CinC class
(``window_class``): ``A`` when ``(AFIB`` covers it whole; ``O`` when it holds no ``(AFIB`` and some rhythm other
than sinus ``(N`` (an episode of bigeminy inside sinus rhythm is a CinC Other record); ``N`` (variant
``with_sinus`` only) when ``(N`` covers it whole and every beat annotated in it is of AAMI class N; otherwise none
(AF mixed with another rhythm, sinus with ectopic beats: CinC's labellers split on those). A window's features are the
118 columns through the table's quality gate (``CropAugment.features``: ``signal.preprocess`` then
``record_features``; ``check`` first proves that function gives the committed table on 20 CinC records); a window
the gate refuses is left out.

CV (``cv``): for each held fold h, the booster (af_lever ``BASE``, the shipped setting) is fitted on the other folds'
CinC records (balanced class weights of those records) and on the variant's windows, each weighted ``factor`` times
its class's weight; it scores fold h's CinC records.

Variants (``VARIANTS``): ``af_other`` (PRIMARY, the only one that can be kept): the A and O windows, factor 1.0;
``af_other_half``: the same, factor 0.5 (information); ``with_sinus``: the A, O and N windows, factor 1.0
(information). A non-primary variant that passes is the a-priori primary of a next look on seeds 48-50.

KEEP RULE (af36's, ``af_lever.seed_set_row``): af_lever's rule (CV AF F1 mean over booster seeds rises by more than
the larger seed sd of both rows, CV macro F1 does not drop by more than it) on seeds 42-44 against ``base`` AND on
45-47 against ``base_fresh_seeds``, and paired over seeds 42-47 the mean AF F1 gain above its sd and the mean macro
F1 difference not below minus its sd. Validation (1,364 records) and a preset only if kept.

Windows' rows cached per record in WORK/windows/<record>.npz (resumable); boosters' out-of-fold outputs in WORK/oof;
last stdout line one JSON object; ``--out`` key ``external_rhythms``.
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

from experiments.cinc2017.af_lever import FRESH, SEEDS, af36_keep_rule, variants_cv  # noqa: E402
from experiments.cinc2017.crop_augment import CropAugment, oof_with_rows  # noqa: E402
from experiments.cinc2017.features import LABELS  # noqa: E402
from experiments.cinc2017.oof_table import cinc_dir_argument, lever_main  # noqa: E402
from experiments.shared_data import MITDB  # noqa: E402

log = logging.getLogger("experiments.cinc2017.external_rhythms")
STEPS = ("plan", "check", "extract", "cv")
PLAN_PATH = HERE / "af69_plan.json"
DEFAULT_MITDB = MITDB
WINDOW_S = 30.0
TARGET_FS = 300.0
SINUS, AF = "(N", "(AFIB"
EXTERNAL_FOLD = -1                       # the windows' fold: never a held CinC fold
VARIANTS = {"af_other": {"classes": ("A", "O"), "factor": 1.0},
            "af_other_half": {"classes": ("A", "O"), "factor": 0.5},
            "with_sinus": {"classes": ("N", "A", "O"), "factor": 1.0}}
PRIMARY = "af_other"
KEEP_RULE = af36_keep_rule("af_other",
                           "windows only train boosters, CV scored on the CinC training records only",
                           "a non-primary variant that passes is the a-priori primary of a next look on seeds 48-50",
                           "validation and a preset only if kept")
PLAN = {"lever": "af69 MIT-BIH DS1 rhythm windows as extra booster training rows", "blind": True,
        "why": "half of the unanimous Other-called-AF errors are organised irregular rhythms (bigeminy, trigeminy, "
               "premature-beat patterns) of which the training folds hold too few (af33, af55, af57); MIT-BIH "
               "annotates such rhythms interval by interval. No lever brought another database's rows.",
        "windows": {"records": "the 22 DS1 records of ../shared/data/mitdb", "lead": "MLII",
                    "resampled_to_hz": TARGET_FS, "seconds": WINDOW_S, "cut": "consecutive from sample 0, the "
                    "shorter tail dropped", "gate": "signal.preprocess, then record_features' 118 columns"},
        "classes": {"A": "(AFIB covers the window", "O": "no (AFIB, some rhythm other than (N",
                    "N": "(N covers the window and every beat in it is AAMI N (with_sinus only)",
                    "none": "AF with another rhythm; sinus with ectopic beats"},
        "variants": VARIANTS, "primary": PRIMARY,
        "cv": "each held fold's booster: the other folds' CinC records (balanced class weights) and the variant's "
              "windows (factor x their class's weight); scored on the held fold's CinC records",
        "keep_rule": KEEP_RULE, "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


def window_rhythms(rhythm, start: int, stop: int) -> set:
    """The annotated rhythms in force over samples [start, stop): ``rhythm`` the record's ``(sample, note)``
    changes in time order (before the first, the first note holds)."""
    if not rhythm:
        return set()
    samples = np.array([s for s, _ in rhythm])
    first = max(int(np.searchsorted(samples, start, side="right")) - 1, 0)
    return {note for s, note in rhythm[first:] if s < stop} | {rhythm[first][1]}


def window_class(rhythms: set, beat_classes) -> str | None:
    """A window's CinC class from its rhythms and the AAMI classes of the beats annotated in it (the rules of the
    module docstring), or None."""
    if rhythms == {AF}:
        return "A"
    if rhythms and AF not in rhythms and rhythms != {SINUS}:
        return "O"
    if rhythms == {SINUS} and len(beat_classes) and all(c == "N" for c in beat_classes):
        return "N"
    return None


def window_spans(record):
    """``(start, stop, rhythms, beat classes)`` of each consecutive whole ``WINDOW_S`` window of a MIT-BIH record from
    sample 0 (the shorter tail dropped), in the record's own samples: the annotated rhythms in force over it
    (``window_rhythms``) and the AAMI classes of the beats annotated in it."""
    size = int(round(WINDOW_S * record.fs))
    beats = record.beat_annotations
    for start in range(0, record.signal.shape[0] - size + 1, size):
        stop = start + size
        inside = (beats.samples >= start) & (beats.samples < stop)
        yield (start, stop, window_rhythms(record.rhythm, start, stop),
               [c for c, keep in zip(beats.labels, inside) if keep])


def record_windows(record) -> list:
    """``(start, stop, class)`` in the record's own samples for each ``window_spans`` window with a class."""
    labelled = ((start, stop, window_class(rhythms, classes)) for start, stop, rhythms, classes in window_spans(record))
    return [w for w in labelled if w[2] is not None]


class ExternalRhythms(CropAugment):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    @functools.cached_property
    def mitdb(self):
        from ecgsl_keras.data.datasets import open_dataset

        return open_dataset("mitdb", self.args.mitdb_dir, lead="MLII")

    def record_rows(self, record_id: str) -> dict:
        """A record's windows with a class: their 118 columns (NaN rows where the gate refused), class, bounds and
        whether the gate passed; cached in WORK/windows/<record>.npz."""
        from ecgsl_keras.data.filters import resample
        from ecgsl_keras.errors import RecordError

        cache = self.work / "windows" / f"{record_id}.npz"
        if cache.is_file():
            return dict(np.load(cache))
        record = self.mitdb.load(record_id)
        signal = record.lead("MLII")
        wins = record_windows(record)
        X = np.full((len(wins), len(self.lever.names)), np.nan)
        ok = np.zeros(len(wins), bool)
        for i, (a, b, _) in enumerate(wins):
            try:
                X[i] = self.features(resample(signal[a:b], record.fs, TARGET_FS), TARGET_FS,
                                     f"{record.path} [{a / record.fs:.0f} s, {b / record.fs:.0f} s)")
                ok[i] = True
            except RecordError:
                pass
        rows = {"X": X.astype(np.float32), "label": np.array([w[2] for w in wins], "U1"),
                "bounds": np.array([w[:2] for w in wins], np.int64).reshape(-1, 2), "ok": ok}
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, **rows)
        tmp.replace(cache)
        return rows

    def step_extract(self, result):
        t0 = time.perf_counter()
        per_record = {}
        for rid in self.mitdb.record_ids():
            rows = self.record_rows(rid)
            per_record[rid] = {c: int(((rows["label"] == c) & rows["ok"]).sum()) for c in ("N", "A", "O")}
            per_record[rid]["refused"] = int((~rows["ok"]).sum())
            log.info("%s: %s", rid, per_record[rid])
        total = {k: sum(r[k] for r in per_record.values()) for k in ("N", "A", "O", "refused")}
        result["extract"] = {"records": len(per_record), "windows": total, "per_record": per_record,
                             "seconds": round(time.perf_counter() - t0, 1)}
        log.info("extract: %s", total)

    @functools.cached_property
    def windows(self) -> tuple:
        """(X, class index) of every window the gate passed, record by record."""
        X, y = [], []
        for rid in self.mitdb.record_ids():
            cache = self.work / "windows" / f"{rid}.npz"
            if not cache.is_file():
                raise SystemExit(f"error: {cache} is missing: run --steps extract first")
            rows = dict(np.load(cache))
            X.append(rows["X"][rows["ok"]])
            y.extend(LABELS.index(c) for c in rows["label"][rows["ok"]])
        return np.concatenate(X), np.array(y, int)

    def variant_oof(self, variant, seed) -> np.ndarray:
        cache = self.work / "oof" / f"af69_{variant}_s{seed}.npy"
        if cache.is_file():
            return np.load(cache)
        wX, wy = self.windows
        pick = np.isin(wy, [LABELS.index(c) for c in VARIANTS[variant]["classes"]])
        out = oof_with_rows(self.lever, seed, wX[pick], wy[pick], np.full(int(pick.sum()), EXTERNAL_FOLD),
                            VARIANTS[variant]["factor"], self.args.k)
        np.save(cache, out)
        return out

    def step_cv(self, result):
        self.windows                 # missing windows stop here, before any booster is fitted
        result["cv"] = variants_cv(self.lever, VARIANTS, PRIMARY, KEEP_RULE, self.variant_oof, "external_rhythms")


def cinc_mitdb_arguments(parser) -> None:
    """``--cinc-dir`` and ``--mitdb-dir``: the command line of the levers that read MIT-BIH DS1 too (af69, af70)."""
    cinc_dir_argument(parser)
    parser.add_argument("--mitdb-dir", type=Path, default=DEFAULT_MITDB, help="MIT-BIH DS1 records")


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "external_rhythms", ExternalRhythms, KEEP_RULE, argv, extra=cinc_mitdb_arguments)


if __name__ == "__main__":
    sys.exit(main())

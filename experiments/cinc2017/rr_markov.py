"""af70 (issue 18): Moody & Mark's Markov model of RR transitions as a column of the shipped ``cinc2017`` booster.

    python experiments/cinc2017/rr_markov.py --work WORK --cinc-dir CINC [--mitdb-dir MITDB] \
        --steps plan extract cv --out experiments/cinc2017/af70_results.json

Why (blind: no figure of this lever and no new look at any record suggested it): Moody & Mark (1983, "A new method
for detecting atrial fibrillation using R-R intervals") read AF from the order of the RR intervals, not from their
spread: each interval is short, regular or long against the mean of the intervals before it, and AF's sequence of
those states is close to a memoryless one, while sinus rhythm with premature beats moves short -> long -> regular
(the compensatory pause). The log-likelihood ratio of the record's state transitions under an AF chain against a
non-AF chain is that method's statistic. The booster's 118 columns describe the RR series' spread, its Lorenz plot
(AFEv, af55's organisation), its entropy and (af64) its periodicity; none reads the transition structure with a
model learned from AF and non-AF records, and af33 / af55 placed most Other-called-AF records among irregular rhythms
with premature-beat patterns.

States (``rr_states``, fixed before any figure): RR interval i (s, record_features' R-peaks, ``detector_rr``) against
the mean of the up to ``REFERENCE_BEATS`` intervals before it: short under ``SHORT`` times it, long over ``LONG``
times it, regular otherwise (the first interval has no state). ``extract`` stores every record's first-order (9) and
second-order (27) transition counts; a statistic of a record with fewer than ``MIN_TRANSITIONS`` transitions is NaN
(LightGBM takes NaN natively).

Chains (``fit_chain``): conditional transition probabilities with add-one smoothing, an AF chain from the
transitions of the records labelled A and a non-AF chain from those labelled N or O (Noisy records' R-peaks are
not a rhythm); a record's column is its mean log-likelihood ratio per transition (``mean_llr``). Fitted on CinC
labels, the column is nested like af68 (``lorenz_stack.nested_columns``): for outer fold h, a training row of fold g
carries the chains fitted on the three folds other than h and g, a row of fold h the chains fitted on the four folds
other than h; so no label of fold h reaches the booster that scores it.

Variants: ``first_order`` (PRIMARY, the only one that can be kept): the 118 columns and the first-order LLR, nested;
``second_order`` (information): the second-order LLR instead, nested; ``mitdb`` (information): the first-order LLR
with both chains fitted on MIT-BIH DS1's annotated beats (transitions whose three beats lie in one annotated rhythm
episode: ``(AFIB`` for AF, any other rhythm for non-AF; 201 and 203 hold DS1's AF), Moody & Mark's own source, no
CinC label; ``shares`` (information): the 9 first-order transition shares themselves (no label), for the booster to
combine.

KEEP RULE (af36's, ``af_lever.seed_set_row``): af_lever's rule (CV AF F1 mean over booster seeds rises by more than
the larger seed sd of both rows, CV macro F1 does not drop by more than it) on seeds 42-44 against ``base`` AND on
45-47 against ``base_fresh_seeds``, and paired over seeds 42-47 the mean AF F1 gain above its sd and the mean macro
F1 difference not below minus its sd. Validation (1,364 records) and a preset only if kept; a non-primary variant
that passes is the a-priori primary of a next look on seeds 48-50.

Steps: ``plan`` (the plan, before any figure), ``extract`` (the counts), ``cv`` (the variants against the recipe),
``columns`` (a report: each LLR column's own AF-vs-rest AUROC on the training records, out of fold, beside the
recipe's 5 best columns' own AUROCs, either direction).

Counts cached per record in WORK/rows (resumable), WORK/counts.npz; boosters in WORK/oof; last stdout line one JSON
object; ``--out`` key ``rr_markov``.
"""
from __future__ import annotations

import functools
import itertools
import logging
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, PlannedLever, af36_keep_rule, variants_cv  # noqa: E402
from experiments.cinc2017.external_rhythms import AF, cinc_mitdb_arguments  # noqa: E402
from experiments.cinc2017.features import LABELS  # noqa: E402
from experiments.cinc2017.lorenz_stack import nested_columns  # noqa: E402
from experiments.cinc2017.oof_table import (detector_rr, extract_block,  # noqa: E402
                                             extract_columns, lever_main, table_rows)

log = logging.getLogger("experiments.cinc2017.rr_markov")
STEPS = ("plan", "extract", "cv", "columns")
PLAN_PATH = HERE / "af70_plan.json"
STATES = ("short", "regular", "long")
SHORT, LONG = 0.85, 1.15
REFERENCE_BEATS = 8
MIN_TRANSITIONS = 8
ORDERS = (1, 2)
NAMES = tuple(f"mkv{order}_" + "".join(s[0] for s in states)
              for order in ORDERS for states in itertools.product(STATES, repeat=order + 1))
AF_CLASSES, OTHER_CLASSES = ("A",), ("N", "O")
VARIANTS = {"first_order": "the first-order LLR, chains on CinC labels, nested (PRIMARY)",
            "second_order": "the second-order LLR, nested (information)",
            "mitdb": "the first-order LLR, chains on MIT-BIH DS1's annotated rhythms (information)",
            "shares": "the 9 first-order transition shares, no label (information)"}
PRIMARY = "first_order"
KEEP_RULE = af36_keep_rule("first_order",
                           "a non-primary variant that passes is the a-priori primary of a next look on seeds 48-50",
                           "validation and a preset only if kept")
PLAN = {"lever": "af70 Moody & Mark's Markov model of RR transitions (short / regular / long) as booster columns",
        "blind": True,
        "why": "AF's sequence of interval states is near memoryless, premature beats move short -> long -> regular; no "
               "column reads the transition structure with a model learned from AF and non-AF records",
        "states": {"reference": f"mean of the up to {REFERENCE_BEATS} intervals before", "short": f"< {SHORT} x",
                   "long": f"> {LONG} x", "rpeaks": "detector_rr (record_features' detector)"},
        "chains": "conditional transition probabilities, add-one smoothing; AF from records labelled A, non-AF from "
                  "N and O; column = mean log-likelihood ratio per transition, NaN under "
                  f"{MIN_TRANSITIONS} transitions",
        "nesting": "outer fold h: rows of fold g from chains fitted on the folds other than h and g, rows of fold h "
                   "from chains fitted on the folds other than h (af68's scheme)",
        "variants": VARIANTS, "primary": PRIMARY, "params": "the shipped LightGBM setting (af_lever BASE)",
        "keep_rule": KEEP_RULE, "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


def rr_states(rr) -> np.ndarray:
    """The state (0 short, 1 regular, 2 long) of each RR interval after the first, against the mean of the up to
    ``REFERENCE_BEATS`` intervals before it."""
    rr = np.asarray(rr, np.float64)
    if rr.size < 2:
        return np.zeros(0, np.int64)
    csum = np.concatenate([[0.0], np.cumsum(rr)])
    i = np.arange(1, rr.size)
    lo = np.maximum(i - REFERENCE_BEATS, 0)
    ratio = rr[1:] / ((csum[i] - csum[lo]) / (i - lo))
    return np.where(ratio < SHORT, 0, np.where(ratio > LONG, 2, 1))


def transition_counts(states, order: int) -> np.ndarray:
    """How often each run of ``order + 1`` consecutive states occurs, in ``itertools.product`` order
    (3 ** (order + 1) counts)."""
    states = np.asarray(states, np.int64)
    out = np.zeros(3 ** (order + 1))
    if states.size > order:
        code = sum(states[k:states.size - order + k] * 3 ** (order - k) for k in range(order + 1))
        out += np.bincount(code, minlength=out.size)
    return out


def count_row(rr) -> np.ndarray:
    """The ``NAMES`` row of an RR series: its first- and second-order transition counts."""
    states = rr_states(rr)
    return np.concatenate([transition_counts(states, order) for order in ORDERS])


def count_columns(signal, fs) -> np.ndarray:
    """``count_row`` on record_features' R-peaks; a NaN row where the detector fails."""
    rr = detector_rr(signal, fs)
    return np.full(len(NAMES), np.nan) if rr is None else count_row(rr)


def order_block(counts: np.ndarray, order: int) -> np.ndarray:
    """The columns of ``counts`` (rows of ``NAMES``) that hold ``order``'s transitions."""
    start = sum(3 ** (o + 1) for o in ORDERS if o < order)
    return counts[:, start:start + 3 ** (order + 1)]


def fit_chain(counts: np.ndarray, order: int) -> np.ndarray:
    """Log conditional transition probabilities (add-one smoothing) from the summed transition counts of ``order``
    (rows with NaN left out): shape (3 ** (order + 1),)."""
    total = np.nansum(order_block(counts, order), axis=0).reshape(-1, 3) + 1.0
    return np.log(total / total.sum(axis=1, keepdims=True)).reshape(-1)


def llr_weights(counts, labels, order: int) -> np.ndarray:
    """The per-transition log-likelihood ratio, AF chain against non-AF chain, fitted on rows labelled in
    ``AF_CLASSES`` and ``OTHER_CLASSES``."""
    labels = np.asarray(labels)
    af = np.isin(labels, AF_CLASSES)
    other = np.isin(labels, OTHER_CLASSES)
    return fit_chain(counts[af], order) - fit_chain(counts[other], order)


def mean_llr(counts, weights, order: int) -> np.ndarray:
    """Each row's mean log-likelihood ratio per transition; NaN under ``MIN_TRANSITIONS`` (or a NaN row)."""
    block = order_block(counts, order)
    n = block.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = block @ weights / n
    return np.where(n >= MIN_TRANSITIONS, out, np.nan)


def transition_shares(counts) -> np.ndarray:
    """The first-order transitions as shares of the record's transitions (NaN under ``MIN_TRANSITIONS``)."""
    block = order_block(counts, 1)
    n = block.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n >= MIN_TRANSITIONS, block / n, np.nan)


def mitdb_counts(mitdb_dir) -> dict:
    """First-order transition counts of MIT-BIH's annotated beats, by rhythm: ``{"af": (9,), "other": (9,)}``; a
    transition counts where its three beats lie in one annotated rhythm episode (AF: ``(AFIB``)."""
    from ecgsl_keras.data.datasets import open_dataset

    dataset = open_dataset("mitdb", mitdb_dir, lead="MLII")
    out = {"af": np.zeros(9), "other": np.zeros(9), "records": []}
    for rid in dataset.record_ids():
        beats, rhythm = dataset.read_annotations(rid)
        if len(beats.samples) < 3 or not rhythm:
            continue
        starts = np.array([s for s, _ in rhythm])
        notes = [n for _, n in rhythm]
        episode = np.maximum(np.searchsorted(starts, beats.samples, side="right") - 1, 0)
        states = rr_states(np.diff(beats.samples).astype(np.float64))     # ratios: the sampling rate cancels
        # state j is RR interval j + 1 (beats j + 1, j + 2); transition j (states j, j + 1): beats j + 1 .. j + 3
        same = (episode[:-2] == episode[1:-1]) & (episode[1:-1] == episode[2:])
        code = states[:-1] * 3 + states[1:]
        is_af = np.array([notes[e] == AF for e in episode[1:-2]], bool)
        for key, inside in (("af", same[1:] & is_af), ("other", same[1:] & ~is_af)):
            out[key] += np.bincount(code[inside], minlength=9)
        out["records"].append(rid)
    return out


class RRMarkov(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    def __init__(self, args):
        super().__init__(args)
        self.y, self.fold = self.lever.y["train"], self.lever.fold

    def step_extract(self, result):
        got = extract_columns(count_columns, list(NAMES), self.args.features, self.args.deep_oof,
                              self.args.cinc_dir, self.work, self.work / "counts.npz", log=log)
        result["extract"] = extract_block(got, self.work / "counts.npz", self.ids, list(NAMES))

    @functools.cached_property
    def counts(self) -> np.ndarray:
        """The count table's training rows in ``self.ids``' order."""
        return table_rows(self.work / "counts.npz", self.ids).astype(np.float64)

    def labels(self, rows) -> np.ndarray:
        return np.array(LABELS)[self.y[rows]]

    def nested_llr(self, order: int, h: int) -> np.ndarray:
        """Outer fold ``h``'s LLR column (``lorenz_stack.nested_columns`` over chains fitted without the row's fold
        and without fold h)."""
        def column(train):
            return mean_llr(self.counts, llr_weights(self.counts[train], self.labels(train), order), order)

        pairs = {frozenset((a, b)): column(~np.isin(self.fold, [a, b]))[:, None]
                 for a, b in itertools.combinations(range(self.args.k), 2)}
        outer = np.full(len(self.y), np.nan)
        for g in range(self.args.k):
            outer[self.fold == g] = column(self.fold != g)[self.fold == g]
        return nested_columns(pairs, outer[:, None], self.fold, h)[:, 0]

    @functools.cached_property
    def mitdb(self) -> dict:
        return mitdb_counts(self.args.mitdb_dir)

    def extra(self, variant, h) -> tuple:
        """(names, columns) the variant adds for outer fold ``h``."""
        if variant == "first_order":
            return ["mkv1_llr"], self.nested_llr(1, h)[:, None]
        if variant == "second_order":
            return ["mkv2_llr"], self.nested_llr(2, h)[:, None]
        if variant == "mitdb":
            table = np.zeros((2, len(NAMES)))
            table[0, :9], table[1, :9] = self.mitdb["af"], self.mitdb["other"]
            weights = fit_chain(table[:1], 1) - fit_chain(table[1:], 1)
            return ["mkv1_llr_mitdb"], mean_llr(self.counts, weights, 1)[:, None]
        return [f"{n}_share" for n in NAMES[:9]], transition_shares(self.counts)

    def variant_oof(self, variant, seed) -> np.ndarray:
        cache = self.work / "oof" / f"af70_{variant}_s{seed}.npy"
        if cache.is_file():
            return np.load(cache)
        lever = self.lever
        out = np.zeros((len(self.y), len(LABELS)))
        for h in range(self.args.k):
            names, cols = self.extra(variant, h)
            X = np.concatenate([lever.X["train"].astype(np.float64), cols], axis=1)
            keep = self.fold != h
            clf = lever._clf(list(lever.names) + names, BASE, seed).fit(X[keep], self.y[keep])
            out[~keep] = clf.booster.predict(X[~keep])
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, out)
        return out

    def step_columns(self, result):
        """How well each LLR column alone ranks AF against the rest on the training records (one-vs-rest AUROC;
        CinC chains out of fold: each row's chains fitted without its fold), and its NaN share (a report)."""
        from sklearn.metrics import roc_auc_score

        af = self.y == LABELS.index("A")
        out = {}
        for variant, (order, nested) in {"first_order": (1, True), "second_order": (2, True),
                                         "mitdb": (1, False)}.items():
            col = self.nested_llr(order, 0) if nested else self.extra(variant, 0)[1][:, 0]
            if nested:      # fold 0's rows are out of fold; the others from chains without their fold too
                for g in range(1, self.args.k):
                    col[self.fold == g] = self.nested_llr(order, g)[self.fold == g]
            ok = np.isfinite(col)
            out[variant] = {"auroc_af_vs_rest": float(roc_auc_score(af[ok], col[ok])),
                            "nan_fraction": float(1 - ok.mean())}
        # context: the 118 recipe columns' own AUROCs (either direction), highest first
        table = self.lever.X["train"].astype(np.float64)
        own = {}
        for j, name in enumerate(self.lever.names):
            ok = np.isfinite(table[:, j])
            if ok.sum() and len(np.unique(af[ok])) == 2:
                a = float(roc_auc_score(af[ok], table[ok, j]))
                own[str(name)] = max(a, 1 - a)
        out["recipe_columns_top5"] = dict(sorted(own.items(), key=lambda kv: -kv[1])[:5])
        result["columns"] = out

    def step_cv(self, result):
        self.counts
        result["mitdb_transitions"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                                       for k, v in self.mitdb.items()}
        result["cv"] = variants_cv(self.lever, VARIANTS, PRIMARY, KEEP_RULE, self.variant_oof, "rr_markov")


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "rr_markov", RRMarkov, KEEP_RULE, argv, extra=cinc_mitdb_arguments)


if __name__ == "__main__":
    sys.exit(main())

"""Issue 18, af33: a diagnosis of the shipped ``cinc2017`` recipe's A <-> O errors (no lever, no keep decision).

    python experiments/cinc2017/af_errors.py --work /work/runs/afdiag [--out experiments/cinc2017/af33_results.json]

TRAINING split out-of-fold rows only (5,456 records; no validation row is read into any figure). The recipe is refit
on the committed inputs through af_lever's ``Lever`` (``oof/deep_oof.npz``, ``oof/features118.npz``): booster seed
42 out of fold on the preset's 5 folds, averaged with the mean of ECG-SL's and the ResNet's out-of-fold
probabilities (deep weight 0.5), class = argmax of the average.

Groups (truth_as_predicted): ``A_as_O`` and ``O_as_A`` (the errors), ``A_as_A`` and ``O_as_O`` (the correct ones).
Per group: medians and quartiles of ``DESCRIBE`` columns (length, heart rate, RR irregularity, the ``atrial`` group's
P-wave / f-wave values, signal quality); standardised mean differences (SMD: difference of means over the pooled sd,
NaN rows left out) of all 118 columns for each error group against both correct groups (top 10 by |SMD|); the
average's confidence (p of the true and the called class, margin); each member's call (ECG-SL, ResNet, booster) and
the records where the members disagree strongly (one gives the true class >= ``STRONG_HI``, another <= ``STRONG_LO``).

Evidence categories (rules fixed before any figure, thresholds from the CORRECT groups' quantiles; a record may fall
in several): ``short`` (fewer than ``MIN_BEATS`` beats or ``duration_s`` < ``SHORT_S``); ``regular_af`` (an A record
whose ``cv_rr`` is below the 25th percentile of ``A_as_A``); ``irregular_other`` (an O record whose ``cv_rr`` is above
the 75th percentile of ``O_as_O``); ``low_quality`` (``sqi_template_snr_db`` below the 10th percentile of the
correct A and O records); ``confident`` (the average gives the called class >= ``CONFIDENT``: every member leans to
it, so no re-weighting of these members can recover it; label-noise or missing-evidence candidates); ``borderline``
(|p_A - p_O| < ``BORDER``: re-weighting territory, already tried in af27-af32). The same categories are counted on the
correct groups, so that a category is evidence only where it is more frequent among the errors.

Added after the first look at the figures (``post_hoc``, information only, marked so in the JSON): P-waves found
(``atr_p_presence`` >= 0.5), with the regular / irregular categories, ``MIXED_P``, and the calls pattern "both deep
models A, booster O"; ``unanimous_errors``: the errors on which all three members call the wrong class (label audit).

Last stdout line one JSON object; ``--out`` key ``af_errors``.
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

from experiments.cinc2017.af_lever import BASE, committed_lever  # noqa: E402
from experiments.cinc2017.features import LABELS  # noqa: E402
from experiments.cinc2017.oof_table import DEFAULT_FEATURES_NPZ, DEFAULT_NPZ, load_deep_oof  # noqa: E402
from experiments.cinc2017.hybrid import _aligned  # noqa: E402

log = logging.getLogger("experiments.cinc2017.af_errors")
A, O = LABELS.index("A"), LABELS.index("O")
SEED = 42
GROUPS = {"A_as_O": (A, O), "O_as_A": (O, A), "A_as_A": (A, A), "O_as_O": (O, O)}
DESCRIBE = ("duration_s", "beat_count", "heart_rate", "cv_rr", "rmssd_norm", "irregular_fraction", "sample_entropy",
            "cosen", "af_afev", "af_p_presence", "af_fwave_ratio", "atr_dominant_fraction", "atr_p_snr_db",
            "atr_p_presence", "atr_p_amplitude", "atr_residual_peak_hz", "atr_residual_organization",
            "atr_residual_fwave_ratio", "sqi_bsqi", "sqi_template_snr_db", "sqi_hf_ratio", "corr_mean")
MIN_BEATS, SHORT_S = 15, 15.0
CONFIDENT, BORDER = 0.7, 0.1
STRONG_HI, STRONG_LO = 0.8, 0.2
MIXED_P = (0.2, 0.8)   # post hoc: atr_p_presence range of "P-waves in part of the beats"
TOP = 10


def _quart(v) -> dict:
    v = v[np.isfinite(v)]
    if not len(v):
        return {"n": 0}
    q = np.percentile(v, [25, 50, 75])
    return {"n": int(len(v)), "p25": float(q[0]), "median": float(q[1]), "p75": float(q[2])}


def smd(a, b) -> float:
    """Standardised mean difference (mean a - mean b) / pooled sd, NaN rows left out."""
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    pooled = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    return float((a.mean() - b.mean()) / pooled) if pooled > 0 else float("nan")


def top_smd(X, names, err, ref) -> list:
    rows = [(n, smd(X[err, j], X[ref, j])) for j, n in enumerate(names)]
    rows = [r for r in rows if np.isfinite(r[1])]
    rows.sort(key=lambda r: -abs(r[1]))
    return [{"feature": n, "smd": round(s, 3), "error_median": float(np.nanmedian(X[err, names.index(n)])),
             "correct_median": float(np.nanmedian(X[ref, names.index(n)]))} for n, s in rows[:TOP]]


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--features", type=Path, default=DEFAULT_FEATURES_NPZ)
    p.add_argument("--deep-oof", type=Path, default=DEFAULT_NPZ)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--out", type=Path, help="results JSON of the repo (key af_errors)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    lever = committed_lever(args)
    ids, y, X, names = lever.ids["train"], lever.y["train"], lever.X["train"].astype(float), lever.names
    table = load_deep_oof(args.deep_oof)
    member = {"ecgsl": _aligned(table["ecgsl"], "train", "probabilities", ids),
              "resnet": _aligned(table["resnet"], "train", "probabilities", ids),
              "booster": lever.oof("base", BASE, SEED)}
    avg = 0.5 * member["booster"] + 0.5 * lever.deep["train"]
    pred = avg.argmax(-1)
    score = lever.score(member["booster"])
    col = {n: X[:, names.index(n)] for n in names}
    masks = {g: (y == t) & (pred == c) for g, (t, c) in GROUPS.items()}
    correct_ao = masks["A_as_A"] | masks["O_as_O"]

    # evidence categories (thresholds from the correct groups only)
    cv_a25 = float(np.nanpercentile(col["cv_rr"][masks["A_as_A"]], 25))
    cv_o75 = float(np.nanpercentile(col["cv_rr"][masks["O_as_O"]], 75))
    snr10 = float(np.nanpercentile(col["sqi_template_snr_db"][correct_ao], 10))
    margin = np.abs(avg[:, A] - avg[:, O])
    cats = {"short": (col["beat_count"] < MIN_BEATS) | (col["duration_s"] < SHORT_S),
            "regular_af": (y == A) & (col["cv_rr"] < cv_a25),
            "irregular_other": (y == O) & (col["cv_rr"] > cv_o75),
            "low_quality": col["sqi_template_snr_db"] < snr10,
            "confident": avg[np.arange(len(y)), pred] >= CONFIDENT,
            "borderline": margin < BORDER}
    # added after the first look at the figures (post hoc, information only): P-waves found in part of the beats
    # (paroxysmal AF or flutter candidates), and the calls pattern in which the two deep models both say A and the
    # booster says O (the deep weight lever c moves exactly these rows)
    post = {"p_waves_found": col["atr_p_presence"] >= 0.5,
            "regular_af_with_p_waves": (y == A) & (col["cv_rr"] < cv_a25) & (col["atr_p_presence"] >= 0.5),
            "irregular_other_without_p_waves": (y == O) & (col["cv_rr"] > cv_o75) & (col["atr_p_presence"] < 0.5),
            "mixed_p_waves": (col["atr_p_presence"] >= MIXED_P[0]) & (col["atr_p_presence"] <= MIXED_P[1]),
            "deep_A_booster_O": ((member["ecgsl"].argmax(-1) == A) & (member["resnet"].argmax(-1) == A)
                                 & (member["booster"].argmax(-1) == O)),
            "deep_O_booster_A": ((member["ecgsl"].argmax(-1) == O) & (member["resnet"].argmax(-1) == O)
                                 & (member["booster"].argmax(-1) == A))}

    groups = {}
    for g, m in masks.items():
        t, c = GROUPS[g]
        calls = {k: v[m].argmax(-1) for k, v in member.items()}
        row = {"n": int(m.sum()),
               "describe": {n: _quart(col[n][m]) for n in DESCRIBE},
               "confidence": {"p_true": _quart(avg[m, t]), "p_called": _quart(avg[m, c]),
                              "margin_a_o": _quart(margin[m]),
                              "p_true_by_member": {k: _quart(v[m, t]) for k, v in member.items()}},
               "member_calls_true": {k: int((v == t).sum()) for k, v in calls.items()},
               "members_calling_true": {str(j): int(v) for j, v in enumerate(
                   np.bincount(sum((v == t).astype(int) for v in calls.values()), minlength=4))},
               "categories": {k: int((v & m).sum()) for k, v in cats.items()},
               "category_fraction": {k: float((v & m).mean() / max(m.mean(), 1e-12)) for k, v in cats.items()},
               "post_hoc": {k: int((v & m).sum()) for k, v in post.items()}}
        groups[g] = row
    # the errors not in any "evidence" category beyond borderline / confident
    for g in ("A_as_O", "O_as_A"):
        m = masks[g]
        spec = cats["short"] | cats["regular_af"] | cats["irregular_other"] | cats["low_quality"]
        groups[g]["no_named_category"] = int((m & ~spec).sum())
        groups[g]["confident_and_no_named_category"] = int((m & ~spec & cats["confident"]).sum())

    sep = {"A_as_O_vs_A_as_A": top_smd(X, names, masks["A_as_O"], masks["A_as_A"]),
           "A_as_O_vs_O_as_O": top_smd(X, names, masks["A_as_O"], masks["O_as_O"]),
           "O_as_A_vs_O_as_O": top_smd(X, names, masks["O_as_A"], masks["O_as_O"]),
           "O_as_A_vs_A_as_A": top_smd(X, names, masks["O_as_A"], masks["A_as_A"])}

    strong = []
    for g in ("A_as_O", "O_as_A"):
        t = GROUPS[g][0]
        for i in np.flatnonzero(masks[g]):
            pt = {k: float(v[i, t]) for k, v in member.items()}
            if max(pt.values()) >= STRONG_HI and min(pt.values()) <= STRONG_LO:
                strong.append({"record": ids[i], "group": g, "p_true": {k: round(v, 3) for k, v in pt.items()},
                               "avg_p_true": round(float(avg[i, t]), 3),
                               "duration_s": float(col["duration_s"][i]), "cv_rr": round(float(col["cv_rr"][i]), 3),
                               "sqi_template_snr_db": round(float(col["sqi_template_snr_db"][i]), 1)})
    strong_by = {}
    for s in strong:
        hi = max(s["p_true"], key=s["p_true"].get)
        strong_by[hi] = strong_by.get(hi, 0) + 1

    # the errors on which all three members agree on the wrong class (for a label audit)
    unanimous = {g: [ids[i] for i in np.flatnonzero(masks[g]) if all(v[i].argmax() == GROUPS[g][1] for v in member.values())]
                 for g in ("A_as_O", "O_as_A")}
    errors = int(masks["A_as_O"].sum() + masks["O_as_A"].sum())
    cm = np.zeros((4, 4), int)
    np.add.at(cm, (y, pred), 1)
    af_errors = int(cm[A].sum() - cm[A, A] + cm[:, A].sum() - cm[A, A])
    result = {
        "command": "python experiments/cinc2017/af_errors.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "records": len(ids), "seed": SEED, "cv": score, "confusion": cm.tolist(), "labels": list(LABELS),
        "af_errors_total": af_errors, "a_o_errors": errors, "a_o_share": errors / af_errors,
        "rules": {"min_beats": MIN_BEATS, "short_s": SHORT_S, "confident": CONFIDENT, "border": BORDER,
                  "strong_hi": STRONG_HI, "strong_lo": STRONG_LO, "cv_rr_a_p25": cv_a25, "cv_rr_o_p75": cv_o75,
                  "snr_db_p10": snr10, "post_hoc_mixed_p": list(MIXED_P)},
        "groups": groups, "separation_top_smd": sep,
        "unanimous_errors": {g: {"n": len(v), "records": v} for g, v in unanimous.items()},
        "strong_disagreement": {"n": len(strong), "by_member_right": strong_by, "records": strong},
        "seconds": time.perf_counter() - t0,
    }
    if args.out:
        saved = json.loads(args.out.read_text()) if args.out.is_file() else {}
        saved["af_errors"] = result
        args.out.write_text(json.dumps(saved, indent=1) + "\n")
    print(json.dumps({"command": result["command"], "a_o_errors": errors, "af_errors_total": af_errors,
                      "af_f1": score["af_f1"], "strong_disagreement": len(strong)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

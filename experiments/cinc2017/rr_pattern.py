"""af44 (issue 18): the ``paroxysm`` and ``block`` groups of ``ecgsl_keras.data.record_features`` (RR-series evidence
for the AF records the shipped booster calls Other) as extra columns of the shipped recipe's feature booster, for
``af_lever.py``'s ``extra`` step (``--extra-features``).

    python experiments/cinc2017/rr_pattern.py --work /work/runs/s36-cinc-af/rr \
        --out experiments/cinc2017/oof/rr_pattern.npz --results experiments/cinc2017/af44_results.json
    python experiments/cinc2017/af_lever.py --features experiments/cinc2017/oof/features118.npz \
        --deep-oof experiments/cinc2017/oof/deep_oof.npz --work WORK --steps base extra \
        --extra-features experiments/cinc2017/oof/rr_paroxysm.npz experiments/cinc2017/oof/rr_block.npz \
        experiments/cinc2017/oof/rr_pattern.npz --out experiments/cinc2017/af44_results.json
    (then the same with --steps extra --extra-seeds 45 46 47; WORK starts as a copy of af41's lever folder, whose
    cached ``base`` boosters of seeds 42-47 are the shipped recipe's CV on the same inputs)
    python experiments/cinc2017/rr_pattern.py --work ... --out ... --results experiments/cinc2017/af44_results.json \
        --decide --lever-work WORK  # the keep rule on af_lever's rows (key rr_pattern.decision), and the columns'
                                    # medians in af33's error groups (key rr_pattern.error_groups)

Why: af33 found that 29 of the 53 AF records the booster calls Other have P waves found by the template test, a
slower rate (76 against 88 bpm) and a less irregular ventricular response: slow, partly regular AF, or flutter. af34
(per-beat atrial waves), af35 / af37 (the atrial spectrum after QRST cancellation) and af41 (the stretch before each
QRS, P-wave consistency) looked at the atrial waves; none was kept. These two groups look at the RR series instead,
at two patterns the 118 columns do not describe (``record_features``' ``FEATURES`` table documents each column):

- ``paroxysm`` (5 columns): AF evidence per window rather than for the whole record (an AF paroxysm inside a record
  of sinus rhythm): AFEv per Lorenz-plot point for the record (``af_afev`` is a count that grows with the number of
  beats, so slow AF scores low) and its largest / smallest value over windows of 16 RR intervals, the most regular
  window of 8 intervals, and the longest run of irregular 8-interval windows as a share of the record.
- ``block`` (5 columns): atrial flutter with variable AV block is "regularly irregular": RR intervals at integer
  multiples (2:1 .. 6:1) of one atrial cycle of 0.16-0.36 s. The best multiple fit over atrial cycles (share of
  intervals within 20 ms of k x T above what evenly spread intervals would fit, needing two multiples in use) and its
  cycle, the share of successive RR ratios near 4/3, 3/2 or 2 (a change of conduction ratio), the RR histogram's
  modes and the share of intervals in them.

Both groups are on request only (``ON_REQUEST_GROUPS``; in no shipped preset). For every record of ``--features``'
table (training records first): the raw lead and its rate through ``record_features(..., groups=("paroxysm",
"block"))`` (the package's cleaning and R-peaks, as the other groups). Cache: one ``.npy`` row per record in
WORK/rows (resumable); ms per record (every group but the on-request ones is computed on the way) to WORK/timing.json.
Writes ``--out`` (both groups) and beside it ``rr_paroxysm.npz`` and ``rr_block.npz`` (one group each).

KEEP RULE (fixed before any CV figure of these columns, in this docstring and in ``af44_results.json``
``rr_pattern.keep_rule``): three candidates, fixed here: ``rr_paroxysm`` (5 columns), ``rr_block`` (5 columns),
``rr_pattern`` (both, 10 columns), each added to the shipped recipe's 118 columns. A candidate passes if af_lever's
rule holds on booster seeds 42-44 against the shipped recipe's CV on those seeds AND on fresh seeds 45-47 against
the recipe on those (rule: the CV AF F1, mean over the seed set, rises by more than the larger seed sd of the two
rows, and the CV macro F1 does not drop by more than the larger seed sd). Among passing candidates the kept one is
the one with the highest paired AF F1 gain over the six seeds; none passes: nothing is kept. The validation split is
not looked at unless a candidate is kept; then only through SHIP RULE: the booster with the kept columns refit on the
whole training split for seeds 42-44, averaged with the committed deep validation probabilities (deep weight 0.5),
against the shipped recipe's booster on the same seeds and inputs; it ships (as a new preset build by ship.py) only
if the validation AF F1 (mean over the three seeds) rises and the validation macro F1 does not drop by more than
0.005; otherwise the preset stays.

Last stdout line one JSON object (key ``rr_pattern`` of ``--results``).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.cinc2017.oof_table import (column_arguments, column_summary, extract_columns, save_results,  # noqa: E402
                                          train_rows)

log = logging.getLogger("rr_pattern")
GROUPS = ("paroxysm", "block")
CANDIDATES = {"rr_paroxysm": ("paroxysm",), "rr_block": ("block",), "rr_pattern": GROUPS}   # npz stem -> groups
KEEP_RULE = ("three candidates fixed before any figure: rr_paroxysm (5 columns), rr_block (5), rr_pattern (both, 10), "
             "each added to the shipped recipe's 118 columns. A candidate passes if af_lever's rule (CV AF F1, mean "
             "over the seed set, rises by more than the larger seed sd of the two rows and CV macro F1 does not drop "
             "by more than the larger seed sd) holds on booster seeds 42-44 against the shipped recipe AND on fresh "
             "seeds 45-47 against it; among passing candidates the highest paired AF F1 gain over the six seeds is "
             "kept; none passes: nothing kept. Validation only for a kept candidate (SHIP_RULE)")
SHIP_RULE = ("only for a kept candidate: its booster refit on the whole training split (seeds 42-44), averaged with "
             "the committed deep validation probabilities (weight 0.5), against the shipped recipe on the same seeds "
             "and inputs; ships only if the validation AF F1 (mean over seeds) rises and validation macro F1 drops by "
             "no more than 0.005")


def names(groups=GROUPS) -> tuple:
    from ecgsl_keras.data.record_features import feature_names

    return feature_names(groups)


def pattern_columns(signal, fs) -> np.ndarray:
    """The ``paroxysm`` and ``block`` groups of one raw single-lead record (mV), in ``names()`` order."""
    from ecgsl_keras.data.record_features import record_features, to_vector

    return to_vector(record_features(signal, fs, groups=GROUPS), names())


def write_candidates(out) -> dict:
    """Beside ``out`` (both groups), one npz per candidate of ``CANDIDATES`` (its groups' columns)."""
    data = np.load(out)
    cols = [str(n) for n in data["names"]]
    paths = {}
    for stem, groups in CANDIDATES.items():
        path = Path(out).with_name(f"{stem}.npz")
        keep = [cols.index(n) for n in names(groups)]
        if path != Path(out):
            np.savez_compressed(path, record_id=data["record_id"], names=np.array(names(groups)),
                                X=data["X"][:, keep])
        paths[stem] = str(path)
    return paths


def decide(results) -> dict:
    """The keep rule on af_lever's rows in ``results`` (af44_results.json): per candidate whether the rule holds on
    each seed set, the paired gains over the six seeds, and the kept candidate (or none)."""
    lever = results["af_lever"]
    out = {"candidates": {}}
    for stem in CANDIDATES:
        rows = {"seeds_42_44": (lever.get("extra", {}).get(stem), lever["base"]),
                "seeds_45_47": (lever.get("extra_fresh_seeds", {}).get(stem), lever["base_fresh_seeds"])}
        if any(r is None for r, _ in rows.values()):
            out["candidates"][stem] = {"complete": False}
            continue
        got = {k: {"af_f1_gain": r["af_f1"]["mean"] - b["af_f1"]["mean"],
                   "af_f1_spread": max(r["af_f1"]["sd"], b["af_f1"]["sd"]),
                   "macro_f1_gain": r["macro_f1"]["mean"] - b["macro_f1"]["mean"],
                   "macro_f1_spread": max(r["macro_f1"]["sd"], b["macro_f1"]["sd"]), "rule": bool(r["kept"])}
               for k, (r, b) in rows.items()}
        paired = lever.get("extra_paired", {}).get(stem, {})
        passes = all(g["rule"] for g in got.values())
        out["candidates"][stem] = dict(got, complete=True, passes=passes, paired_af_f1=paired.get("af_f1"),
                                       paired_macro_f1=paired.get("macro_f1"),
                                       # the same as words, for RESULTS.md's figure markers (they render strings)
                                       says={**{k: "yes" if g["rule"] else "no" for k, g in got.items()},
                                             "passes": "yes" if passes else "no"})
    passing = [s for s, c in out["candidates"].items() if c.get("passes")]
    out["kept"] = max(passing, key=lambda s: out["candidates"][s]["paired_af_f1"]["mean"]) if passing else None
    out["kept_says"] = out["kept"] or "none"
    out["complete"] = all(c["complete"] for c in out["candidates"].values())
    return out


def error_groups(lever_work, features, deep_oof, table, seed=42) -> dict:
    """Information (chooses nothing): the columns' training-split medians in af33's groups (truth_as_called, A and O)
    of the shipped recipe's CV (the cached ``base`` booster of ``seed`` in af_lever's ``lever_work``, averaged with
    the deep side), next to the AF records called Other that af33 describes; ``table``: ``--out``'s npz."""
    import argparse as _argparse

    from experiments.cinc2017.af_lever import BASE, Lever
    from experiments.cinc2017.features import LABELS

    lever = Lever(_argparse.Namespace(features=features, deep_oof=deep_oof, work=lever_work, ecgsl=None, resnet=None,
                                      k=5))
    pred = (0.5 * lever.oof("base", BASE, seed) + 0.5 * lever.deep["train"]).argmax(-1)
    y = lever.y["train"]
    data = np.load(table)
    row = {str(r): i for i, r in enumerate(data["record_id"])}
    X = data["X"][[row[r] for r in lever.ids["train"]]].astype(np.float64)
    cols = [str(n) for n in data["names"]]
    a, o = LABELS.index("A"), LABELS.index("O")
    out = {"seed": seed, "groups": {}}
    for t, tn in ((a, "A"), (o, "O")):
        for c, cn in ((a, "A"), (o, "O")):
            sel = (y == t) & (pred == c)
            out["groups"][f"{tn}_as_{cn}"] = {"n": int(sel.sum()), "median": {
                n: round(float(np.nanmedian(X[sel, j])), 4) if sel.any() else None for j, n in enumerate(cols)}}
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    column_arguments(p, "rr_pattern")
    p.add_argument("--decide", action="store_true", help="apply the keep rule to --results' af_lever rows")
    p.add_argument("--lever-work", type=Path, help="with --decide: af_lever's WORK (its cached base boosters)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    cols = names()
    saved = json.loads(args.results.read_text()) if args.results and args.results.is_file() else {}
    if args.decide:
        result = saved["rr_pattern"]
        result["decision"] = decide(saved)
        if args.lever_work:
            result["error_groups"] = error_groups(args.lever_work, args.features, args.deep_oof, args.out)
        result["decide_command"] = "python experiments/cinc2017/rr_pattern.py " + " ".join(argv or sys.argv[1:])
        save_results(args.results, "rr_pattern", result)
        print(json.dumps(result["decision"]))
        return
    if args.results:     # the rule in the results JSON before any figure
        save_results(args.results, "rr_pattern", {"names": list(cols), "candidates": {k: list(names(v)) for k, v
                                                                                     in CANDIDATES.items()},
                                                  "keep_rule": KEEP_RULE, "ship_rule": SHIP_RULE})
    got = extract_columns(pattern_columns, cols, args.features, args.deep_oof, args.cinc_dir, args.work, args.out,
                          args.limit, log)
    X = got["X"]
    result = {"records": len(got["ids"]), "records_done": len(got["done"]), "names": list(cols),
              "candidates": {k: list(names(v)) for k, v in CANDIDATES.items()},
              "npz": write_candidates(args.out), **column_summary(got, cols), "keep_rule": KEEP_RULE,
              "ship_rule": SHIP_RULE,
              "command": "python experiments/cinc2017/rr_pattern.py " + " ".join(argv or sys.argv[1:])}
    train, y = train_rows(got)
    if train:
        result["train_class_median"] = {n: {c: round(float(np.nanmedian(X[train][y == c, j])), 4)
                                            for c in sorted(set(y))} for j, n in enumerate(cols)}
    if args.results:
        save_results(args.results, "rr_pattern", result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

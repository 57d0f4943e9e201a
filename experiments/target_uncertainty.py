"""Issue 18: how far the served figures are from their targets, against the sampling spread of the records that
measure them (a report: it chooses nothing and changes no model).

    python experiments/target_uncertainty.py [--draws 10000] [--seed 0] \
        [--out experiments/target_uncertainty_results.json]

Reads two committed results only:

- CinC 2017 (``cinc2017``, the 1,364 validation records): the served preset's confusion matrix
  (``experiments/cinc2017/ship_results.json``, key ``shipped``). The records are independent, so the bootstrap
  resamples records (a multinomial draw of the matrix's cells); per draw the macro, challenge and per-class F1.
- MIT-BIH (``mitdb-beats``, DS1 records left out): the served recipe's beat counts per record, seed means over booster
  seeds 42-44 (``experiments/mitdb/ns_vote_results.json``, key ``v_lead2_ns_vote_nested.by_record.served``; they give
  the served left-out figures exactly, checked). Beats of one record are not independent, so the bootstrap resamples
  whole records (22 DS1 records, with replacement); per draw V and S sensitivity and positive predictivity.

For each figure: the served value, its target, the bootstrap's 2.5 / 97.5 percentiles and the share of draws at or
above the target (how often a record sample of this size, drawn like this one, would show the target met by this
same model; not the probability that the model meets it), and the smallest change that meets the target on these
records: CinC, records whose call must change; MIT-BIH, beats. MIT-BIH also gives each figure without each one
record (the largest rises and falls: how much one record decides it).

Last stdout line one JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CINC = REPO / "experiments" / "cinc2017" / "ship_results.json"
MITDB = REPO / "experiments" / "mitdb" / "ns_vote_results.json"
MITDB_KEY = ("v_lead2_ns_vote_nested", "by_record", "served")
LABELS = ("N", "A", "O", "~")
MITDB_TARGETS = {"V_sensitivity": 0.92, "V_positive_predictivity": 0.90, "S_sensitivity": 0.80,
                 "S_positive_predictivity": 0.60}
log = logging.getLogger("experiments.target_uncertainty")


def per_class_f1(cm) -> np.ndarray:
    """(..., C) F1 of each class of confusion matrices ``cm`` (..., C, C) (rows true, columns called); 0 where a
    class is neither present nor called (scikit-learn's ``zero_division=0``)."""
    cm = np.asarray(cm, np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    denom = cm.sum(-1) + cm.sum(-2)
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1e-12), 0.0)


def interval(draws, value, target) -> dict:
    draws = np.asarray(draws, np.float64)
    return {"served": float(value), "target": float(target), "distance": float(value - target),
            "low": float(np.percentile(draws, 2.5)), "high": float(np.percentile(draws, 97.5)),
            "sd": float(draws.std(ddof=1)), "share_at_or_above_target": float(np.mean(draws >= target - 1e-12))}


def records_to_f1(cm, cls: int, target: float):
    """The fewest records whose call must change to bring class ``cls``'s F1 to ``target``: each change either
    turns a missed ``cls`` record into a caught one or a false ``cls`` call into a right one (0 if met already;
    None if no change reaches it); also the fewest of one kind alone (``missed_only``, ``false_calls_only``; None
    where that kind alone cannot reach it)."""
    cm = np.asarray(cm, int)
    tp, fn, fp = cm[cls, cls], cm[cls].sum() - cm[cls, cls], cm[:, cls].sum() - cm[cls, cls]

    def meets(caught, cleared):
        t, n, p = tp + caught, fn - caught, fp - cleared
        return 2 * t / max(2 * t + n + p, 1) >= target - 1e-12

    best = next(({"records": k, "missed_caught": a, "false_calls_cleared": k - a}
                 for k in range(fn + fp + 1) for a in range(min(k, fn) + 1) if k - a <= fp and meets(a, k - a)), None)
    if best is not None:
        best["missed_only"] = next((a for a in range(fn + 1) if meets(a, 0)), None)
        best["false_calls_only"] = next((b for b in range(fp + 1) if meets(0, b)), None)
    return best


def cinc_report(draws: int, rng) -> dict:
    ship = json.loads(CINC.read_text())
    served, targets = ship["shipped"], ship["targets"]
    cm = np.asarray(served["confusion_matrix"], int)
    f1 = per_class_f1(cm)
    if not np.allclose(f1, [served["per_class_f1"][c] for c in LABELS], atol=1e-6):
        raise SystemExit(f"error: {CINC}: the confusion matrix does not give the per-class F1 it is stored with")
    n = int(cm.sum())
    boot = rng.multinomial(n, cm.ravel() / n, size=draws).reshape(draws, len(LABELS), len(LABELS))
    f = per_class_f1(boot)
    baseline = ship["features_baseline"]["per_class_f1"]
    out = {"records": n, "source": f"{CINC.relative_to(REPO)} shipped.confusion_matrix", "draws": draws,
           "macro_f1": interval(f.mean(1), f1.mean(), targets["macro_f1"]),
           "challenge_f1": interval(f[:, :3].mean(1), f1[:3].mean(), targets["challenge_f1"]),
           "af_f1": interval(f[:, 1], f1[1], targets["af_f1"]),
           "per_class_f1_above_features_baseline": {
               c: interval(f[:, i], f1[i], baseline[c]) for i, c in enumerate(LABELS)},
           "af_records": {"present": int(cm[1].sum()), "called": int(cm[:, 1].sum()), "caught": int(cm[1, 1]),
                          "other_called_af": int(cm[2, 1])},
           "af_records_to_target": records_to_f1(cm, 1, targets["af_f1"])}
    return out


def _mitdb_figures(rows) -> dict:
    """V and S sensitivity and positive predictivity of summed per-record beat counts (arrays over records, or
    (draws, records) for the bootstrap)."""
    def total(key):
        return np.asarray(rows[key], np.float64).sum(-1)
    out = {}
    for c in ("V", "S"):
        true, lost, false = total(c), total(f"{c}_lost"), total(f"false_{c}")
        caught = true - lost
        out[f"{c}_sensitivity"] = caught / true
        out[f"{c}_positive_predictivity"] = caught / (caught + false)
    return out


def beats_to_target(rows, figure: str, target: float) -> dict | None:
    """The fewest beats that meet ``target`` on these records: lost beats caught (sensitivity) or false calls
    cleared (positive predictivity); 0 if met already."""
    c = figure[0]
    true, lost, false = (float(np.sum(rows[k])) for k in (c, f"{c}_lost", f"false_{c}"))
    caught = true - lost
    if figure.endswith("_sensitivity"):
        need = target * true - caught
        return {"beats": int(np.ceil(max(need, 0.0) - 1e-9)), "of": "lost beats caught", "lost": lost,
                "true": true}
    # caught / (caught + false') >= target  <=>  false' <= caught (1 - target) / target
    need = false - caught * (1 - target) / target
    return {"beats": int(np.ceil(max(need, 0.0) - 1e-9)), "of": "false calls cleared", "false": false,
            "caught": caught}


def mitdb_report(draws: int, rng) -> dict:
    saved = json.loads(MITDB.read_text())
    node = saved
    for key in MITDB_KEY:
        node = node[key]
    records = sorted(node)
    rows = {k: np.array([node[r][k] for r in records], np.float64)
            for k in ("V", "V_lost", "false_V", "S", "S_lost", "false_S")}
    served = _mitdb_figures(rows)
    stored = saved[MITDB_KEY[0]]["served_seed_spread"]
    for name, value in served.items():
        if abs(value - stored[name]["mean"]) > 5e-4:
            raise SystemExit(f"error: {MITDB}: the per-record rows give {name} {value:.4f}, not the stored "
                             f"{stored[name]['mean']:.4f}")
    pick = rng.integers(0, len(records), size=(draws, len(records)))
    boot = _mitdb_figures({k: v[pick] for k, v in rows.items()})
    out = {"records": len(records), "record_names": records, "draws": draws,
           "source": f"{MITDB.relative_to(REPO)} {'.'.join(MITDB_KEY)} (seed means over booster seeds 42-44)"}
    for name, target in MITDB_TARGETS.items():
        block = interval(boot[name], served[name], target)
        block["to_target"] = beats_to_target(rows, name, target)
        without = {}
        for i, r in enumerate(records):
            keep = np.arange(len(records)) != i
            value = _mitdb_figures({k: v[keep] for k, v in rows.items()})[name]
            if np.isfinite(value):
                without[r] = float(value)
        ordered = sorted(without, key=without.get)
        block["without_one_record"] = {"highest": {"record": ordered[-1], "value": without[ordered[-1]]},
                                       "lowest": {"record": ordered[0], "value": without[ordered[0]]},
                                       "records_whose_removal_meets_target": [r for r in ordered
                                                                              if without[r] >= target]}
        out[name] = block
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--draws", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="results JSON to write")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    result = {"what": "served figures against their targets and the records' bootstrap spread (a report: nothing "
                      "is chosen)", "seed": args.seed,
              "cinc2017": cinc_report(args.draws, rng), "mitdb": mitdb_report(args.draws, rng)}
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    result["command"] = f"python experiments/target_uncertainty.py {argv_text}".strip()
    result["seconds"] = time.perf_counter() - t0
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    log.info("CinC AF F1 %.3f [%.3f, %.3f]; MIT-BIH V +P %.3f [%.3f, %.3f]", result["cinc2017"]["af_f1"]["served"],
             result["cinc2017"]["af_f1"]["low"], result["cinc2017"]["af_f1"]["high"],
             result["mitdb"]["V_positive_predictivity"]["served"], result["mitdb"]["V_positive_predictivity"]["low"],
             result["mitdb"]["V_positive_predictivity"]["high"])
    print(json.dumps({"command": result["command"], "af_f1": result["cinc2017"]["af_f1"],
                      "seconds": result["seconds"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Issue 18: how far `mitdb-beats`' served left-out figures on DS1 are from their targets, against the spread of
DS1's records (a report: it chooses nothing and changes no model).

    python experiments/mitdb/record_bootstrap.py [--draws 10000] [--seed 0] \
        [--out experiments/mitdb/record_bootstrap_results.json]

Reads one committed result: the served recipe's beat counts per DS1 record, left out, seed means over booster seeds
42-44 (``ns_vote_results.json``, key ``v_lead2_ns_vote_nested.by_record.served``; they give the served left-out
figures exactly, checked against the stored seed spread). Beats of one record are not independent (a few records
hold most of the V and S beats), so the bootstrap resamples whole records (the 22 DS1 records, with replacement);
per draw V and S sensitivity and positive predictivity. For each: the served value, its target, the 2.5 / 97.5
percentiles and the share of draws at or above the target (how often a sample of 22 records drawn like DS1 would show
the target met by this same recipe; not the probability that it meets it), the fewest beats that would meet the
target on these counts (lost beats caught, or false calls cleared), and the figure without each one record (the
lowest and highest: how much one record decides it). CinC 2017's counterpart is
``experiments/cinc2017/validation_ci.py`` (records are independent there: the confusion matrix is resampled).

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

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.mitdb.hybrid import TARGETS  # noqa: E402  (issue 18's MIT-BIH targets, one place)

SOURCE = HERE / "ns_vote_results.json"
SOURCE_KEY = ("v_lead2_ns_vote_nested", "by_record", "served")
log = logging.getLogger("experiments.mitdb.record_bootstrap")


def interval(draws, value, target) -> dict:
    """The served value against its target and the draws' percentiles; a draw without a beat of the class (no
    sensitivity) or without a call (no positive predictivity) is left out and counted."""
    draws = np.asarray(draws, np.float64)
    undefined = int((~np.isfinite(draws)).sum())
    draws = draws[np.isfinite(draws)]
    return {"served": float(value), "target": float(target), "distance": float(value - target),
            "undefined_draws": undefined,
            "low": float(np.percentile(draws, 2.5)), "high": float(np.percentile(draws, 97.5)),
            "sd": float(draws.std(ddof=1)), "share_at_or_above_target": float(np.mean(draws >= target - 1e-12))}


def figures(rows) -> dict:
    """V and S sensitivity and positive predictivity of summed per-record beat counts (arrays over records, or
    (draws, records) for the bootstrap)."""
    def total(key):
        return np.asarray(rows[key], np.float64).sum(-1)
    out = {}
    for c in ("V", "S"):
        true, lost, false = total(c), total(f"{c}_lost"), total(f"false_{c}")
        caught = true - lost
        with np.errstate(invalid="ignore", divide="ignore"):      # a draw of records without the class: NaN
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


def report(draws: int, rng) -> dict:
    saved = json.loads(SOURCE.read_text())
    node = saved
    for key in SOURCE_KEY:
        node = node[key]
    records = sorted(node)
    rows = {k: np.array([node[r][k] for r in records], np.float64)
            for k in ("V", "V_lost", "false_V", "S", "S_lost", "false_S")}
    served = figures(rows)
    stored = saved[SOURCE_KEY[0]]["served_seed_spread"]
    for name, value in served.items():
        if abs(value - stored[name]["mean"]) > 5e-4:
            raise SystemExit(f"error: {SOURCE}: the per-record rows give {name} {value:.4f}, not the stored "
                             f"{stored[name]['mean']:.4f}")
    pick = rng.integers(0, len(records), size=(draws, len(records)))
    boot = figures({k: v[pick] for k, v in rows.items()})
    out = {"records": len(records), "record_names": records, "draws": draws,
           "source": f"{SOURCE.relative_to(REPO)} {'.'.join(SOURCE_KEY)} (seed means over booster seeds 42-44)"}
    for name, target in TARGETS.items():
        block = interval(boot[name], served[name], target)
        block["to_target"] = beats_to_target(rows, name, target)
        without = {}
        for i, r in enumerate(records):
            keep = np.arange(len(records)) != i
            value = figures({k: v[keep] for k, v in rows.items()})[name]
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
    result = {"what": "mitdb-beats' served left-out DS1 figures against their targets and the bootstrap spread of "
                      "whole records (a report: nothing is chosen)", "seed": args.seed,
              **report(args.draws, np.random.default_rng(args.seed))}
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    result["command"] = f"python experiments/mitdb/record_bootstrap.py {argv_text}".strip()
    result["seconds"] = time.perf_counter() - t0
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    block = result["V_positive_predictivity"]
    log.info("V +P %.3f [%.3f, %.3f]", block["served"], block["low"], block["high"])
    print(json.dumps({"command": result["command"], **{k: result[k] for k in TARGETS}, "seconds": result["seconds"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Issue 21, "one detector, in Python and in the graph": could the Python default move to run s58's R-peak point while
the ``cinc2017-edge`` graph keeps the subset of it that it runs? The in-graph peaks at the graph's richest accepted
point against the Python path's peaks at run s58's full point, on the CinC 2017 validation records (50 ms, the beats
the graph can classify; ``gap_port.py``'s machinery: ``agreement_rows``, ``agreement_by_length``).

    python experiments/edge/s58_agreement.py --work WORK --out benchmarks/results/edge_s58_agreement.json

Points. Every point is the ``cinc2017-edge`` preset's signal config (its serving settings: detection at 100 Hz) with
R-peak options on top.
* Graph (exported end to end, float32 file): "on_post_wide" (``gap_port.POINTS``: the negative-QRS fallback, the
  minimum gap 0.25 s, the deep rescue 0.2, ``rpeak_guard_noise`` 1.7 with ``noise_correlation`` 0.8,
  ``rpeak_guard_post_wide`` 0.4) and "on_post_wide_first": that plus ``rpeak_keep_first_beat`` (run s58's point has it
  and the graph accepts it: the file a s58 default would export; of s58's 16 ``GuardConstants`` overrides the graph
  reads only ``noise_correlation``, already in both).
* Python (``signal.find_rpeaks`` on the whole record at its rate): "default" (the preset as shipped), "s37_first",
  "s51" and "s58" (every ``rpeak_*`` field of ``experiments/rpeaks/minimum_gap.py``'s ``points("s58")`` config:
  ``s37_first``'s guard stack and constants, the first beat, then run s51's gap options
  ``rpeak_minimum_gap_final`` 0.5 / ``rpeak_minimum_gap_after_guard``, then run s58's ``rpeak_minimum_gap_pair`` 0.6
  with ``rpeak_minimum_gap_pair_correlation`` 0.9), and each graph point's own config (the reference: Python and
  graph with the same options, ``edge_t_wave_port.json``'s "on_post_wide" row).

Figures: (a) graph "on_post_wide" and "on_post_wide_first" against Python "s58"; (b) the same graph points against
Python "s51" and "s37_first"; (c) Python "s58" against Python "default" (Se / +P with the default as reference, and
the peaks s58 adds and removes); all also per record length (30 s or less, longer). Breakdown (where (a) falls short):
on every record where a graph point and Python "s58" part, Python "s58" again with each step the graph does not run
turned off in turn (``MISSING``: the eight ``s37_first`` steps, run s51's and run s58's gap options, and for
"on_post_wide" the first beat), scored against the same graph peaks: the errors (FN + FP) each step-off removes or adds
on those records, so the next port is chosen by effect. Then (``cumulative``, added after the breakdown's figures, a
look that chooses nothing) "on_post_wide_first" against Python "s58" with the first k steps of that ranking off
together, on all records: about the agreement once those k steps are ported and match, were the steps independent.

Decision (fixed before any figure of this script): the graph may serve a Python default at run s58's point with its
subset (the Python default moves to s58, the exported graph runs the s58 options it accepts) when (a) at
"on_post_wide_first", the graph a s58 default would export, is at least 0.995 on Se and on +P over all 1,365 records;
otherwise the missing steps must be ported first (the breakdown ranks them). "on_post_wide" (the brief's point) is
judged by the same threshold and reported beside it. Nothing else is chosen from these figures (the Python default
and the preset are not changed here).

Prints one JSON object as the last line of stdout (logs to stderr) and writes it to ``--out``. Cached in ``--work``
(export per point, agreement and breakdown per record: a rerun goes on where it stopped).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from experiments.shared_data import CINC2017  # noqa: E402
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "rpeaks"))
log = logging.getLogger("experiments.edge.s58_agreement")

import gap_port  # noqa: E402
from look_output import finish  # noqa: E402  (write --out, print the JSON: one helper)

GRAPH = {"on_post_wide": gap_port.POINTS["on_post_wide"],
         "on_post_wide_first": dict(gap_port.POINTS["on_post_wide"], rpeak_keep_first_beat=True)}
# each step of run s58's point the graph does not run, and the options that turn it off (SignalConfig's defaults)
MISSING = {"p_wave": {"rpeak_guard_p_wave": 0.0}, "second_proposer": {"rpeak_second_proposer": 0.0},
           "cluster_rescue": {"rpeak_rescue_cluster": 0.0}, "t_wave": {"rpeak_guard_t_wave": 0.0},
           "residual": {"rpeak_guard_residual": 0.0}, "second_run": {"rpeak_second_run": 0.0},
           "blocked_p": {"rpeak_guard_blocked_p": 0.0}, "templates": {"rpeak_rescue_templates": 0.0},
           "s51_gap_final_after_guard": {"rpeak_minimum_gap_final": 0.0, "rpeak_minimum_gap_after_guard": False},
           "s58_gap_pair": {"rpeak_minimum_gap_pair": 0.0, "rpeak_minimum_gap_pair_correlation": 0.0},
           "first_beat": {"rpeak_keep_first_beat": False}}
THRESHOLD = 0.995
DECIDING = "on_post_wide_first"
RULE = ("the graph may serve a Python default at run s58's point with its subset when the agreement of the graph at "
        "on_post_wide_first (on_post_wide + rpeak_keep_first_beat: the s58 options the graph accepts) with the Python "
        "path at s58 is at least 0.995 on Se and on +P (1,365 CinC validation records, 50 ms, classifiable beats); "
        "otherwise the missing steps must be ported first, ranked by the breakdown; on_post_wide (the brief's point) is "
        "judged by the same threshold and reported beside it; fixed before any figure; nothing else is chosen")


def python_points() -> dict:
    """Python points: name -> signal options on top of the preset's signal config (module docstring)."""
    import minimum_gap

    configs = {name: config for name, config, _, _ in minimum_gap.points("s58")}
    base = f"{minimum_gap.BASELINE}__"

    def rpeak_fields(config):
        return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name.startswith("rpeak_")}

    return {"default": {}, "s37_first": rpeak_fields(configs[minimum_gap.BASELINE]),
            "s51": rpeak_fields(configs[base + minimum_gap.suffix(minimum_gap.S51_POINT)]),
            "s58": rpeak_fields(configs[base + minimum_gap.suffix(minimum_gap.S58_POINT)]), **GRAPH}


def agreement(args, work: Path, py_points: dict):
    """Per record: each graph point's windows scored against each Python point (``"<graph>|<python>"``); and the
    deciding point's file rate."""
    reader, ids = gap_port._records(args.cinc, args.every)
    rows, geometry = gap_port.agreement_rows(work, reader, ids, GRAPH, py_points, work / "agreement.jsonl")
    return rows, geometry[DECIDING][0]


def breakdown(args, work: Path, rows, py_points: dict) -> dict:
    """On the records where a graph point and Python "s58" part: Python "s58" with each ``MISSING`` step off, scored
    against the same graph windows; per step the FN / FP removed (positive) on those records."""
    steps = {step: dict(py_points["s58"], **off) for step, off in MISSING.items()}
    parted = {g: [r["record"] for r in rows if "tp" in r[f"{g}|s58"] and r[f"{g}|s58"]["fn"] + r[f"{g}|s58"]["fp"] > 0]
              for g in GRAPH}
    todo = sorted(set().union(*parted.values()))
    reader, _ = gap_port._records(args.cinc, args.every)
    got_rows, _ = gap_port.agreement_rows(work, reader, todo, GRAPH, steps, work / "breakdown.jsonl", counts_only=True)
    done = {r["record"]: r for r in got_rows}
    by_id = {r["record"]: r for r in rows}
    out = {}
    for g in GRAPH:
        base = {k: sum(by_id[rid][f"{g}|s58"][k] for rid in parted[g]) for k in ("fn", "fp")}
        per_step = {}
        for step in steps:
            got = [done[rid][f"{g}|{step}"] for rid in parted[g] if "tp" in done[rid][f"{g}|{step}"]]
            fn, fp = sum(c["fn"] for c in got), sum(c["fp"] for c in got)
            per_step[step] = {"fn": fn, "fp": fp, "fn_removed": base["fn"] - fn, "fp_removed": base["fp"] - fp,
                              "errors_removed": base["fn"] + base["fp"] - fn - fp,
                              "records_better": sum(
                                  1 for rid in parted[g] if "tp" in done[rid][f"{g}|{step}"]
                                  and done[rid][f"{g}|{step}"]["fn"] + done[rid][f"{g}|{step}"]["fp"]
                                  < by_id[rid][f"{g}|s58"]["fn"] + by_id[rid][f"{g}|s58"]["fp"]),
                              "refused": len(parted[g]) - len(got)}
        ranked = sorted(missing_for(g), key=lambda s: -per_step[s]["errors_removed"])
        out[g] = {"records_parted": len(parted[g]), "errors_at_s58": base, "step_off": per_step, "ranked": ranked,
                  "not_missing": sorted(set(steps) - set(missing_for(g)))}
    return out


def missing_for(graph_point: str) -> list:
    """The ``MISSING`` steps the graph point does not run (the first beat is run by "on_post_wide_first")."""
    return [s for s in MISSING if not (s == "first_beat" and GRAPH[graph_point].get("rpeak_keep_first_beat"))]


def cumulative(args, work: Path, rows, py_points: dict, ranked: list) -> dict:
    """The deciding graph point against Python "s58" with the first k steps of ``ranked`` off together (k = 1 ..),
    on all records: about the agreement once those k steps are ported and match, were the steps independent."""
    points = {f"off_{k}": dict(py_points["s58"], **{o: v for s in ranked[:k] for o, v in MISSING[s].items()})
              for k in range(1, len(ranked) + 1)}
    reader, _ = gap_port._records(args.cinc, args.every)
    crows, _ = gap_port.agreement_rows(work, reader, [r["record"] for r in rows], GRAPH, points,
                                       work / "cumulative.jsonl", {k: (DECIDING, k) for k in points}, counts_only=True)
    return {k: {"steps_off": ranked[:int(k.split("_")[1])], **gap_port.agreement_by_length(crows, k)} for k in points}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--cinc", default=str(CINC2017))
    p.add_argument("--every", type=int, default=1, help="every k-th validation record (1: all 1,365)")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    py_points = python_points()
    result = {"experiment": "edge_s58_agreement", "issue": 21, "model": gap_port.MODEL, "graph_points": GRAPH,
              "python_points": py_points, "missing_steps": MISSING, "rule": RULE, "threshold": THRESHOLD,
              "deciding_graph_point": DECIDING,
              "command": "python experiments/edge/s58_agreement.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    exported = gap_port.export(args, args.work, GRAPH)
    result["export"] = {g: {k: exported[g][k] for k in ("sizes_bytes", "builtin_only", "while_ops")} for g in GRAPH}
    rows, rate = agreement(args, args.work, py_points)
    a = {"records": len(rows), "every": args.every, "tolerance_ms": 50}
    for g in GRAPH:     # agreement.<graph point>.<Python point>
        a[g] = {q: gap_port.agreement_by_length(rows, f"{g}|{q}") for q in py_points}
    # (c): Python s58 (and s51, s37_first) against the Python default, the default as reference, on the same beats
    g0 = DECIDING
    for q in ("s37_first", "s51", "s58"):
        pair = [{"seconds": r["seconds"], "c": ({"refused": True} if "tp" not in r[f"{g0}|default"] or "tp" not in r[f"{g0}|{q}"]
                                                else _match(r[f"{g0}|default"]["python"], r[f"{g0}|{q}"]["python"], rate))}
                for r in rows]
        a[f"python_{q}_vs_default"] = {**gap_port.agreement_by_length(pair, "c"), **gap_port.peak_change(
            [{"old": r[f"{g0}|default"], "new": r[f"{g0}|{q}"]} for r in rows], "old", "new", "python", rate)}
    result["agreement"] = a
    result["breakdown"] = breakdown(args, args.work, rows, py_points)
    result["cumulative"] = cumulative(args, args.work, rows, py_points, result["breakdown"][DECIDING]["ranked"])
    # with every missing step off the Python config differs from the graph point's own only in s37_first's other
    # GuardConstants (none read by the graph's steps): same counts as the reference row when they move nothing
    last, ref = result["cumulative"][f"off_{len(result['cumulative'])}"], a[DECIDING][DECIDING]
    result["cumulative_all_off_equals_reference"] = all(
        last[g][k] == ref[g][k] for g in gap_port.LENGTH_GROUPS for k in ("tp", "fn", "fp"))
    decide = {}
    for g in GRAPH:
        s = a[g]["s58"]["all"]
        decide[g] = {"sensitivity": s["sensitivity"], "ppv": s["ppv"],
                     "distance_to_0_995": {k: s[k] - THRESHOLD for k in ("sensitivity", "ppv")},
                     "may_serve_s58": bool(min(s["sensitivity"], s["ppv"]) >= THRESHOLD)}
    result["decision"] = {**decide, "graph_may_serve_s58_default": decide[DECIDING]["may_serve_s58"],
                          "next_port_by_effect": result["breakdown"][DECIDING]["ranked"][0]}
    return finish(result, "experiments/edge/s58_agreement.py", args, argv)


def _match(reference, other, rate) -> dict:
    from ecgsl_keras.data import signal as signal_lib

    m = signal_lib.match_peaks(np.asarray(reference, np.int64), np.asarray(other, np.int64), int(round(0.05 * rate)))
    return {k: m[k] for k in ("tp", "fn", "fp")}


if __name__ == "__main__":
    raise SystemExit(main())

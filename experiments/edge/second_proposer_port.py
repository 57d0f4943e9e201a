"""Issue 21, deliverable 2 ("one detector"), run s39: the second proposer (``SignalConfig.rpeak_second_proposer``,
``rpeak_guard.second_proposer``) in the end-to-end graph (``EndToEnd.second_proposer``), and its byte cost.

    python experiments/edge/second_proposer_port.py --plan-only --out benchmarks/results/edge_second_proposer_port_plan.json
    python experiments/edge/second_proposer_port.py --work WORK --out benchmarks/results/edge_second_proposer_port.json

Points (the ``cinc2017-edge`` preset's signal config, its serving settings: detection at 100 Hz, with R-peak options on
top). Graph (exported end to end, float32 and int8): "on_post_wide_first" (``s58_agreement.py``'s deciding point: the
graph's richest point, ``gap_port.POINTS["on_post_wide"]`` + ``rpeak_keep_first_beat``) and "on_second_first": that
plus run s58's second-proposer values (``rpeak_second_proposer`` 0.5 and its ``second_amplitude`` 0.1 override; the
other ``second_*`` constants are the defaults s58 keeps). Python (``signal.find_rpeaks`` on the whole record at its
rate): each graph point's own options, run s58's point (``s58_agreement.python_points()["s58"]``) and, to check that
run s38's breakdown figure is reproduced, s58 with the second proposer off ("s58_no_second"). No constant is chosen
here: the port runs the Python step's constants, so no record (training or validation) picks anything.

Figures (``s58_agreement.py``'s machinery: ``gap_port.agreement_rows``, ``agreement_by_length``; 50 ms,
the beats the graph can classify, the 1,365 CinC 2017 validation records, also per record length):
(a) the in-graph peaks at "on_second_first" against Python at "on_second_first" (its own point: the port's fidelity)
    and against Python at s58; "on_post_wide_first" beside them (the reference rows of ``edge_s58_agreement.json``);
(b) the errors (FN + FP) against Python s58 that the port removes: on the records where "on_post_wide_first" and
    Python s58 part (run s38's breakdown records), "on_post_wide_first"'s errors minus "on_second_first"'s, beside the
    315 that Python s58 with the second proposer off removes there (``step_off_second_proposer``, recomputed);
(c) the int8 and float32 file sizes, the operators (all subgraphs, the WHILE bodies included) and WHILE ops of both
    points, the bytes and ops the option adds, and the estimated size after the strip of empty TFLite tables that
    another helper is proving (``byte_budget.strip_levers`` on the names-stripped int8 file: repacked only, an estimate).

Keep rule (``PLAN``; fixed and committed before any figure of this script): the option stays in the graph, off by
default, when (1) both files convert with builtin ops only, (2) the in-graph peaks at "on_second_first" agree with the
Python path at "on_second_first" at least 0.995 on Se and on +P over all 1,365 records, and (3) the int8 end-to-end
file at "on_second_first" is at most 400,000 bytes. Otherwise the distance is reported and the port is taken out of
``serving/edge.py`` (kept in a commit). The default files must be byte-identical before and after the port (the
sha256 of the exported default int8 file, checked outside this script). Nothing else is decided here.

Outcome (``edge_second_proposer_port.json``, made by this script at commit 6e2da41, where the port is): not kept (the
agreement and the size both miss), so the port was taken out of ``serving/edge.py`` again and the graph refuses
``rpeak_second_proposer``; rerun the script at that commit (or with the port restored).

Prints one JSON object as the last line of stdout (logs to stderr) and writes it to ``--out``. Cached in ``--work``
(export per point, agreement per record: a rerun goes on where it stopped).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from experiments.shared_data import CINC2017  # noqa: E402
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "rpeaks"))
log = logging.getLogger("experiments.edge.second_proposer_port")

import gap_port  # noqa: E402
import s58_agreement  # noqa: E402
from look_output import finish  # noqa: E402  (write --out, print the JSON: one helper)

BASE = "on_post_wide_first"
PORT = "on_second_first"
# run s58's second-proposer values (s58_agreement.python_points()["s58"]: rpeak_second_proposer 0.5, second_amplitude 0.1)
SECOND = {"rpeak_second_proposer": 0.5}
SECOND_CONSTANTS = {"second_amplitude": 0.1}
GRAPH = {BASE: s58_agreement.GRAPH[BASE],
         PORT: dict(s58_agreement.GRAPH[BASE], **SECOND,
                    rpeak_guard_constants={**dict(s58_agreement.GRAPH[BASE]["rpeak_guard_constants"]),
                                           **SECOND_CONSTANTS})}
THRESHOLD = 0.995
GOAL_BYTES = 400_000
PLAN = {
    "question": "can the end-to-end graph take the second proposer (issue 21 deliverable 2), and at what byte cost?",
    "graph_points": GRAPH,
    "python_points": [BASE, PORT, "s58", "s58_no_second"],
    "records": "CinC 2017 validation split (prepare.assign_splits, seed 42): all 1,365; 50 ms; the beats the graph can "
               "classify; no constant chosen (the port runs the Python step's constants)",
    "figures": ["(a) graph on_second_first against Python on_second_first and Python s58, on_post_wide_first beside",
                "(b) errors (FN + FP) against Python s58 removed by the port on the records where on_post_wide_first "
                "and Python s58 part, beside Python s58 with the second proposer off there",
                "(c) int8 / float32 bytes, operators (all subgraphs) and WHILE ops of both points; the option's "
                "added bytes and ops; the int8 size after the strip of empty TFLite tables (estimate)"],
    "keep_rule": "the option stays in the graph (off by default) when both files convert with builtin ops only, the "
                 "in-graph peaks at on_second_first agree with Python at on_second_first >= 0.995 on Se and on +P "
                 "(all 1,365 validation records), and the int8 end-to-end file at on_second_first is <= 400,000 bytes; "
                 "otherwise the distances are reported and the port is taken out (kept in a commit); the default "
                 "files must stay byte-identical (sha256 of the exported default int8 file before / after)",
    "threshold": THRESHOLD, "goal_bytes": GOAL_BYTES,
}


def python_points() -> dict:
    s58 = s58_agreement.python_points()["s58"]
    return {BASE: GRAPH[BASE], PORT: GRAPH[PORT], "s58": s58,
            "s58_no_second": dict(s58, **s58_agreement.MISSING["second_proposer"])}


def file_ops(path: Path) -> dict:
    """Operators of a TFLite file (every subgraph: a WHILE body's ops count), WHILE ops, and the bytes a strip of
    its empty tables would save (``byte_budget.strip_levers`` on the names-stripped file: an estimate)."""
    from tensorflow.lite.python import schema_py_generated as schema

    import byte_budget
    from ecgsl_keras.serving import edge, tflite_file

    data = Path(path).read_bytes()
    facts = tflite_file.describe(data)
    ops = facts["operators"]
    stripped = schema.ModelT.InitFromPackedBuf(bytearray(edge.strip_tensor_names(data)), 0)
    return {"bytes": len(data), "operators": sum(ops.values()), "subgraphs": facts["subgraphs"],
            "while_ops": ops.get("WHILE", 0), "by_op": ops,
            "strip_estimate": byte_budget.strip_levers(stripped)}


def agreement(args, work: Path, py_points: dict):
    """Per record: each graph point's windows scored against each Python point (``"<graph>|<python>"``); and the
    port's file rate."""
    reader, ids = gap_port._records(args.cinc, args.every)
    rows, geometry = gap_port.agreement_rows(work, reader, ids, GRAPH, py_points, work / "agreement.jsonl")
    return rows, geometry[PORT][0]


def errors_removed(rows) -> dict:
    """(b): on the records where the base graph and Python s58 part, the errors against s58 of the base graph, of
    the port, and of the base graph against s58 with the second proposer off (run s38's breakdown figure)."""
    def errors(r, key):
        return r[key]["fn"] + r[key]["fp"]

    parted = [r for r in rows if "tp" in r[f"{BASE}|s58"] and errors(r, f"{BASE}|s58") > 0
              and "tp" in r[f"{PORT}|s58"] and "tp" in r[f"{BASE}|s58_no_second"]]

    def counts(key):
        return {k: sum(r[key][k] for r in parted) for k in ("fn", "fp")}

    base, port, off = counts(f"{BASE}|s58"), counts(f"{PORT}|s58"), counts(f"{BASE}|s58_no_second")
    every = [r for r in rows if "tp" in r[f"{BASE}|s58"] and "tp" in r[f"{PORT}|s58"]]
    return {"records_parted": len(parted), "errors_base_vs_s58": base, "errors_port_vs_s58": port,
            "errors_removed_by_port": base["fn"] + base["fp"] - port["fn"] - port["fp"],
            "fn_removed_by_port": base["fn"] - port["fn"], "fp_removed_by_port": base["fp"] - port["fp"],
            "records_better": sum(1 for r in parted if errors(r, f"{PORT}|s58") < errors(r, f"{BASE}|s58")),
            "records_worse": sum(1 for r in parted if errors(r, f"{PORT}|s58") > errors(r, f"{BASE}|s58")),
            "step_off_second_proposer": {"fn": off["fn"], "fp": off["fp"],
                                         "errors_removed": base["fn"] + base["fp"] - off["fn"] - off["fp"]},
            "all_records": {"records": len(every),
                            "errors_base_vs_s58": sum(errors(r, f"{BASE}|s58") for r in every),
                            "errors_port_vs_s58": sum(errors(r, f"{PORT}|s58") for r in every)}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path)
    p.add_argument("--cinc", default=str(CINC2017))
    p.add_argument("--every", type=int, default=1, help="every k-th validation record (1: all 1,365)")
    p.add_argument("--plan-only", action="store_true", help="write the plan (rules, points) only: no figure")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    command = "python experiments/edge/second_proposer_port.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result = {"experiment": "edge_second_proposer_port", "issue": 21, "run": "s39", "model": gap_port.MODEL,
              "plan": PLAN, "command": command}
    if not args.plan_only:
        if args.work is None:
            p.error("--work is required (unless --plan-only)")
        args.work.mkdir(parents=True, exist_ok=True)
        py_points = python_points()
        result["python_points"] = py_points
        exported = gap_port.export(args, args.work, GRAPH)
        from ecgsl_keras.serving import edge

        result["export"] = {g: {k: exported[g][k] for k in ("sizes_bytes", "builtin_only", "while_ops")} for g in GRAPH}
        files = {g: {fmt: file_ops(args.work / f"export_{g}" / edge.tflite_name(fmt)) for fmt in ("float32", "int8")}
                 for g in GRAPH}
        result["files"] = files
        added = {fmt: {"bytes": files[PORT][fmt]["bytes"] - files[BASE][fmt]["bytes"],
                       "operators": files[PORT][fmt]["operators"] - files[BASE][fmt]["operators"]}
                 for fmt in ("float32", "int8")}
        added["int8"]["bytes_per_operator"] = added["int8"]["bytes"] / max(added["int8"]["operators"], 1)
        result["added_by_option"] = added
        rows, rate = agreement(args, args.work, py_points)
        a = {"records": len(rows), "every": args.every, "tolerance_ms": 50}
        for g in GRAPH:
            a[g] = {q: gap_port.agreement_by_length(rows, f"{g}|{q}") for q in py_points}
        a["python_change_second_proposer"] = gap_port.peak_change(
            [{"old": r[f"{BASE}|{BASE}"], "new": r[f"{PORT}|{PORT}"]} for r in rows], "old", "new", "python", rate)
        a["graph_change_second_proposer"] = gap_port.peak_change(
            [{"old": r[f"{BASE}|{BASE}"], "new": r[f"{PORT}|{PORT}"]} for r in rows], "old", "new", "graph", rate)
        result["agreement"] = a
        result["errors_removed"] = errors_removed(rows)
        own = a[PORT][PORT]["all"]
        int8 = files[PORT]["int8"]["bytes"]
        builtin = all(exported[g]["builtin_only"] for g in GRAPH)
        agrees = min(own["sensitivity"], own["ppv"]) >= THRESHOLD
        fits = int8 <= GOAL_BYTES
        result["decision"] = {
            "builtin_only": builtin, "agrees": agrees, "fits": fits, "kept": bool(builtin and agrees and fits),
            "agreement_distance_to_0_995": {k: own[k] - THRESHOLD for k in ("sensitivity", "ppv")},
            "int8_bytes": int8, "int8_distance_to_goal": int8 - GOAL_BYTES,
            "int8_bytes_after_strip_estimate": int8 - files[PORT]["int8"]["strip_estimate"]["total_saved_bytes"],
            "vs_s58": {k: a[PORT]["s58"]["all"][k] - THRESHOLD for k in ("sensitivity", "ppv")},
            "vs_s58_change_from_base": {k: a[PORT]["s58"]["all"][k] - a[BASE]["s58"]["all"][k]
                                        for k in ("sensitivity", "ppv")}}
    return finish(result, "experiments/edge/second_proposer_port.py", args, argv)


if __name__ == "__main__":
    raise SystemExit(main())

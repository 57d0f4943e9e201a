"""Issue 21 deliverables 2 and 3: does the graph's input-rate detection (``EdgeConfig.detect_at_input_rate``: the
"neurokit" detector run on the 300 Hz input before the decimation) now fit the edge goals, now that the exported files
are stripped of empty tables, and does it close the in-graph against Python peak agreement gap?

    python experiments/edge/input_rate.py --plan-only --out benchmarks/results/edge_input_rate_plan.json
    python experiments/edge/input_rate.py --work WORK --out benchmarks/results/edge_input_rate.json

Graph points (``GRAPH``; the ``cinc2017-edge`` preset exported end to end, float32 and int8, as ``export`` writes them:
``edge.export_end_to_end`` then ``tflite_file.strip_file``): "default" (the shipped file: 100 Hz input), "input_rate"
(``EdgeConfig(input_rate=300, detect_at_input_rate=True)``: 300 Hz input, detection at 300 Hz), "on_post_wide" and
"on_post_wide_input_rate" (``gap_port.POINTS["on_post_wide"]``'s R-peak options, the graph's richest accepted point,
at 100 Hz and with the input-rate detection), and "input_rate_only" (300 Hz input, detection at 100 Hz after the
decimation: a control that parts the input rate's effect from the detection rate's; computed last).

Python points (``PYTHON``; ``signal.find_rpeaks`` on the whole record at its native 300 Hz): each graph point's own
signal config ("default": the preset as shipped, ``detect_at_native_rate`` false, so the detector runs at 100 Hz and
the apex move and the guard at 300 Hz; "on_post_wide"), and the same with ``detect_at_native_rate`` true
("default_native", "on_post_wide_native": the Python detector at 300 Hz, the configuration the input-rate detection
mirrors).

Figures. (1) Per file: bytes (stripped), SHA-256, operators (all subgraphs), WHILE ops; latency of the int8 files (and
the float32 ones) with ``latency_same_load.py --alternate`` (all files in turn in one run, 1 thread, process CPU time,
median and p95; the machine is shared: the default file is in the same run). (2) Peak agreement (50 ms, Se and +P, on
the beats the graph can classify: ``gap_port.agreement_rows`` / ``agreement_by_length``) on every
3rd CinC 2017 validation record (``gap_port._records``: sorted ids, ``[::3]``, 455 of 1,365: the subset is fixed here,
before any figure, for time), for the pairs ``PAIRS``.

Rule (``RULE``, fixed before any figure; a measurement, nothing in the library changes): the input-rate detection
"fits" when its int8 file (at "input_rate", and apart at "on_post_wide_input_rate") is at most 400,000 bytes and its
same-load median CPU time per 30 s window is at most 5 ms; the room left is 400,000 minus its bytes and 5 ms minus its
median (also as a share of the default file's time, the load being shared). It "closes the gap" at a point when the
input-rate graph against that point's Python config ("input_rate|default", "on_post_wide_input_rate|on_post_wide") is
at least 0.995 on Se and on +P on these records and not below the 100 Hz graph against the same Python config (the
"default|default" row, 0.9958 / 0.9958 on all 1,365 records in ``edge_gap_port.json``, is recomputed on this subset).
The "_native" rows are reported beside, decide nothing. The shipped preset and the defaults are not changed.

Prints one JSON object as the last line of stdout (logs to stderr) and writes it to ``--out``. Cached in ``--work``
(exports, latency, agreement per record: a rerun goes on where it stopped).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from experiments.shared_data import CINC2017  # noqa: E402
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "rpeaks"))
log = logging.getLogger("experiments.edge.input_rate")

import gap_port  # noqa: E402

INPUT_RATE = {"input_rate": 300.0, "detect_at_input_rate": True}
# name -> (R-peak signal options, EdgeConfig fields)
GRAPH = {"default": ({}, {}),
         "input_rate": ({}, INPUT_RATE),
         "on_post_wide": (gap_port.POINTS["on_post_wide"], {}),
         "on_post_wide_input_rate": (gap_port.POINTS["on_post_wide"], INPUT_RATE),
         "input_rate_only": ({}, {"input_rate": 300.0})}
PYTHON = {"default": {}, "default_native": {"detect_at_native_rate": True},
          "on_post_wide": gap_port.POINTS["on_post_wide"],
          "on_post_wide_native": dict(gap_port.POINTS["on_post_wide"], detect_at_native_rate=True)}
PAIRS = {"default": ("default", "default_native"), "input_rate": ("default", "default_native"),
         "on_post_wide": ("on_post_wide", "on_post_wide_native"),
         "on_post_wide_input_rate": ("on_post_wide", "on_post_wide_native"),
         "input_rate_only": ("default", "default_native")}
EVERY = 3
SIZE_GOAL, LATENCY_GOAL_MS, AGREEMENT_GOAL = 400_000, 5.0, 0.995
RULE = ("the input-rate detection fits when its int8 file (input_rate; on_post_wide_input_rate apart) is at most "
        "400,000 bytes (stripped, as export writes it) and its same-load median CPU time per 30 s window (1 thread, "
        "latency_same_load.py --alternate with the default file in the same run) is at most 5 ms; room left = goal "
        "minus measured; it closes the gap at a point when the input-rate graph against that point's own Python config "
        "(input_rate|default, on_post_wide_input_rate|on_post_wide) is at least 0.995 on Se and on +P (every 3rd CinC "
        "validation record, 455 of 1,365, 50 ms, classifiable beats) and not below the 100 Hz graph against the same "
        "Python config; _native rows reported, decide nothing; the preset and defaults are not changed")


def edge_config(name: str):
    from ecgsl_keras.serving import edge

    return edge.EdgeConfig(**GRAPH[name][1])


def file_facts(path: Path) -> dict:
    """Bytes, SHA-256, operators (every subgraph: a WHILE body's ops count) and WHILE ops of a TFLite file."""
    from ecgsl_keras.serving import tflite_file

    data = Path(path).read_bytes()
    facts = tflite_file.describe(data)
    ops = facts["operators"]
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "operators": sum(ops.values()),
            "subgraphs": facts["subgraphs"], "while_ops": ops.get("WHILE", 0),
            "builtin_only": not any(k in ("CUSTOM", "DELEGATE", "?") for k in ops)}


def export(work: Path, points) -> dict:
    """Each point's end-to-end files in ``work/export_<point>``, stripped as ``serving.export`` strips them."""
    from ecgsl_keras.serving import edge, tflite_file
    from ecgsl_keras.serving.export import load_classifier

    model_path, task, configs = gap_port._configs({p: GRAPH[p][0] for p in points})
    classifier = load_classifier(model_path)
    cache = work / "export.json"
    out = json.loads(cache.read_text()) if cache.is_file() else {}
    for point in points:
        if point in out:
            continue
        folder = work / f"export_{point}"
        report = edge.export_end_to_end(classifier, configs[point], task, folder, ("float32", "int8"),
                                        edge_config(point))
        files = {}
        for fmt in ("float32", "int8"):
            path = folder / edge.tflite_name(fmt)
            stripped = tflite_file.strip_file(path)
            files[fmt] = {**file_facts(path), "bytes_unstripped": stripped["bytes_before"]}
        out[point] = {"signal_options": GRAPH[point][0], "edge_options": GRAPH[point][1],
                      "input_rate_hz": report["input_rate"], "max_samples": report["max_samples"], "files": files,
                      "fixture_agreement": report.get("python_path_agreement")}
        log.info("export %s: int8 %d, float32 %d bytes", point, files["int8"]["bytes"], files["float32"]["bytes"])
        cache.write_text(json.dumps(out, indent=2) + "\n")
    return out


def latency(work: Path, points, repeats: int) -> dict:
    """``latency_same_load.py --alternate`` on the int8 and float32 files of ``points``, all in one run."""
    cache = work / "latency.json"
    if cache.is_file():
        got = json.loads(cache.read_text())
        if set(got["cpu_median_ms"]) == {f"{p}_{f}" for p in points for f in ("int8", "float32")}:
            return got
    exported = json.loads((work / "export.json").read_text())
    from ecgsl_keras.serving import edge

    specs = [f"{p}_{fmt}={work / f'export_{p}' / edge.tflite_name(fmt)}:{exported[p]['input_rate_hz']:g}"
             for p in points for fmt in ("int8", "float32")]
    cmd = [sys.executable, str(HERE / "latency_same_load.py"), "--repeats", str(repeats), "--alternate"]
    for spec in specs:
        cmd += ["--file", spec]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    got["command"] = " ".join(["python", "experiments/edge/latency_same_load.py"] + cmd[2:])
    cache.write_text(json.dumps(got, indent=2) + "\n")
    return got


def agreement(args, work: Path, points) -> list:
    """Per record: each graph point's windows against its Python configs (``"<graph>|<python>"``, ``PAIRS``)."""
    reader, ids = gap_port._records(args.cinc, args.every)
    cache = work / ("agreement.jsonl" if args.every == EVERY else f"agreement_every{args.every}.jsonl")
    rows, _ = gap_port.agreement_rows(work, reader, ids, {p: GRAPH[p][0] for p in points}, PYTHON, cache,
                                      {f"{g}|{q}": (g, q) for g in points for q in PAIRS[g]})
    return rows


def plan() -> dict:
    return {"experiment": "edge_input_rate", "issue": 21, "model": gap_port.MODEL, "graph_points": GRAPH,
            "python_points": PYTHON, "pairs": PAIRS, "records": f"every {EVERY}rd CinC 2017 validation record "
            "(gap_port._records: prepare.assign_splits seed 42, sorted ids, [::3])", "tolerance_ms": 50,
            "goals": {"int8_bytes": SIZE_GOAL, "cpu_median_ms": LATENCY_GOAL_MS, "agreement": AGREEMENT_GOAL},
            "rule": RULE}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path)
    p.add_argument("--cinc", default=str(CINC2017))
    p.add_argument("--points", nargs="+", default=list(GRAPH), choices=list(GRAPH))
    p.add_argument("--steps", nargs="+", default=["export", "latency", "agreement"])
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--every", type=int, default=EVERY,
                   help=f"every k-th validation record (the plan's: {EVERY}; 1, all 1,365, was run after its figures "
                        "as a check that decides nothing)")
    p.add_argument("--plan-only", action="store_true", help="write the plan (points, pairs, rule) and stop")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    result = {**plan(), "command": "python experiments/edge/input_rate.py "
              + " ".join(argv if argv is not None else sys.argv[1:])}
    if not args.plan_only:
        args.work.mkdir(parents=True, exist_ok=True)
        if "export" in args.steps:
            exported = export(args.work, args.points)
            result["files"] = {g: {k: exported[g][k] for k in ("input_rate_hz", "max_samples", "files")}
                               for g in args.points}
        if "latency" in args.steps:
            result["latency"] = latency(args.work, args.points, args.repeats)
        if "agreement" in args.steps:
            rows = agreement(args, args.work, args.points)
            result["agreement"] = {"records": len(rows), "every": args.every, "tolerance_ms": 50,
                                   **{g: {q: gap_port.agreement_by_length(rows, f"{g}|{q}") for q in PAIRS[g]}
                                      for g in args.points}}
        result["decision"] = decide(result, args.points)
        if args.every != EVERY:
            result["decision"]["note"] = (f"every {args.every}: not the plan's records (every {EVERY}); computed after "
                                          "the plan's figures, a check that decides nothing")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


IDLE_REFERENCE = ("benchmarks/results/edge_cinc2017_edge.json", "latency.int8.cpu_median_ms")


def idle_reference() -> dict:
    """The default int8 file's CPU median on the idle machine (``IDLE_REFERENCE``: file, key)."""
    path, key = IDLE_REFERENCE
    value = json.loads((HERE.parents[1] / path).read_text())
    for part in key.split("."):
        value = value[part]
    return {"file": path, "key": key, "cpu_median_ms": float(value)}


def decide(result: dict, points) -> dict:
    """``RULE`` applied to what was measured (a point missing a figure is left out)."""
    out = {}
    for g, base in (("input_rate", "default"), ("on_post_wide_input_rate", "on_post_wide")):
        if g not in points:
            continue
        d = {}
        if "files" in result:
            b = result["files"][g]["files"]["int8"]["bytes"]
            d["int8_bytes"] = b
            d["int8_room_bytes"] = SIZE_GOAL - b
            d["int8_added_bytes"] = b - result["files"][base]["files"]["int8"]["bytes"] if base in result["files"] else None
        if "latency" in result:
            med = result["latency"]["cpu_median_ms"]
            d["cpu_median_ms"] = med[f"{g}_int8"]
            d["cpu_p95_ms"] = result["latency"]["cpu_p95_ms"][f"{g}_int8"]
            d["cpu_room_ms"] = LATENCY_GOAL_MS - med[f"{g}_int8"]
            if f"{base}_int8" in med:
                d["ratio_to_100hz_int8"] = med[f"{g}_int8"] / med[f"{base}_int8"]
                # added after the figures, decides nothing: the machine was loaded (the 100 Hz default file itself
                # ran over 5 ms), so the idle time is estimated by the same-load ratio to the default int8 file's
                # idle CPU median (IDLE_REFERENCE, an earlier export of the same default graph on the idle machine)
                ref = idle_reference()
                d["idle_estimate_ms"] = {"cpu_median_ms": ref["cpu_median_ms"] * med[f"{g}_int8"] / med["default_int8"],
                                         "reference": ref}
        if "int8_bytes" in d and "cpu_median_ms" in d:
            d["fits"] = bool(d["int8_room_bytes"] >= 0 and d["cpu_room_ms"] >= 0)
        if "agreement" in result and base in result["agreement"]:
            own = result["agreement"][g][base]["all"]
            ref = result["agreement"][base][base]["all"]
            d["agreement"] = {k: own[k] for k in ("sensitivity", "ppv")}
            d["agreement_distance_to_0_995"] = {k: own[k] - AGREEMENT_GOAL for k in ("sensitivity", "ppv")}
            d["agreement_change_vs_100hz_graph"] = {k: own[k] - ref[k] for k in ("sensitivity", "ppv")}
            d["closes_gap"] = bool(min(own["sensitivity"], own["ppv"]) >= AGREEMENT_GOAL
                                   and all(own[k] >= ref[k] for k in ("sensitivity", "ppv")))
        out[g] = d
    out["preset_and_defaults_changed"] = False
    return out


if __name__ == "__main__":
    raise SystemExit(main())

"""Issue 21, port steps 1-2 (docs/benchmarks.md, run s51's "What the port needs"): the negative-QRS fallback
(``SignalConfig.rpeak_mindelay_keep="prominent_negative_last"``) and the minimum gap (``rpeak_minimum_gap_s``) in the
end-to-end graph (``EndToEnd.refractory_contest``), and the first of step 3's guard steps, the deep rescue
(``rpeak_rescue_deep``, ``EndToEnd.guard``), then the noise check and the post-wide-beat check (``rpeak_guard_noise``,
``rpeak_guard_post_wide``). The ``cinc2017-edge`` preset exported end to end at each point: its signal config as shipped
("off"), with the two options at run s48-s51's point ("on": "prominent_negative_last", gap 0.25 s), with the deep
rescue too at ``s37_first``'s value ("on_deep": 0.2), then the noise check ("on_noise") and the post-wide check
("on_post_wide") at ``s37_first``'s values; each file against the Python path with the same signal config.

    python experiments/edge/gap_port.py --work WORK [--cinc path/to/training2017] [--every 1] \\
        [--steps export latency agreement] --out benchmarks/results/edge_gap_port.json

Steps (each cached in ``--work``; ``agreement`` per record, a rerun goes on where it stopped):

* ``export``: ``edge.export_end_to_end`` (float32 and int8; the converter allows TFLITE_BUILTINS only, so a file
  exists only when every op is builtin), the file sizes, and each file's op set read back with LiteRT
  (``ai_edge_litert``; a Flex or custom op would be named there).
* ``latency``: both points' files called in turn (rounds of ``--repeats`` calls, 1 thread, process CPU time and
  wall time; median / p95) on a synthetic window with beats and on a window with negative beats, where the contest
  keeps minima.
* ``agreement``: the CinC 2017 validation split (``prepare.assign_splits``, seed 42, the presets' split; every
  ``--every``-th record): the float32 file's peaks (the file's 30 s windows) against ``signal.find_rpeaks`` with the
  file's own signal config (the preset detects at 100 Hz: its serving settings), 50 ms, on the beats the graph can
  classify (``r_offset`` from a window's start, ``beat_len - r_offset`` from its end), as ``peaks_variants.py``;
  also per record length (30 s or less, longer) and the peaks each side changes when the options go on.

Decision rule, fixed before any figure of this run: the port stays (the graph accepts the two options instead of
refusing them) when both files convert with builtin ops only and, on these records, the in-graph against Python
agreement with the options on is at most 0.001 below the agreement with them off, Se and +P. The default is not
changed in any case (the options are run s51's "kept, not default" point, which also needs step 3, the guard). The
deep rescue's port (added after the first two points' figures, its rule written before its own): it stays when its
file converts with builtin ops only and the agreement at "on_deep" is at most 0.001 below "on", Se and +P. The noise
check's port (``rpeak_guard_noise``, ``EndToEnd.noise_check``; point "on_noise": "on_deep" with ``s37_first``'s 1.7 and
its ``noise_correlation`` 0.8; its rule written before its figures, after the first three points'): it stays when its
file converts with builtin ops only and the agreement at "on_noise" is at most 0.001 below "on_deep", Se and +P. The
post-wide-beat check's port (``rpeak_guard_post_wide``, ``EndToEnd.post_wide_check``; point "on_post_wide": "on_noise"
with ``s37_first``'s 0.4; its rule written before any figure of it and of "on_noise"'s agreement): it stays when its
file converts with builtin ops only and the agreement at "on_post_wide" is at most 0.001 below "on_noise", Se and +P.
The T-wave check of the kept peaks' port (run s38; ``rpeak_guard_t_wave`` with ``GuardConstants.t_wave_all``,
``EndToEnd.t_wave_check``; point "on_t_wave": "on_post_wide" with ``s37_first``'s 0.9, ``t_wave_size`` 4 and
``t_wave_all``; chosen over the blocked-P-wave check by ``next_step_effect.py`` on training records; its rule written
before any figure of it): it stays when its file converts with builtin ops only and the agreement at "on_t_wave" is at
most 0.001 below "on_post_wide", Se and +P. It did not (+P 0.00118 below; ``edge_t_wave_port.json``, made by this
script at commit 6bdcef7, where the port and the point are): the port was taken out again, and with it the point.
A point added later is computed alone: the export, and the agreement rows, of the points already in ``--work`` are
kept (the latency is measured again for all points, in turn).

Prints one JSON object as the last line of stdout (logs to stderr) and writes it to ``--out``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from experiments.shared_data import CINC2017  # noqa: E402
log = logging.getLogger("experiments.edge.gap_port")

from bench import _cached  # noqa: E402  (bench.py beside this script: one cache-per-step helper)
from look_output import finish  # noqa: E402  (write --out, print the JSON: one helper)

POINTS = {"off": {}, "on": {"rpeak_mindelay_keep": "prominent_negative_last", "rpeak_minimum_gap_s": 0.25},
          "on_deep": {"rpeak_mindelay_keep": "prominent_negative_last", "rpeak_minimum_gap_s": 0.25,
                      "rpeak_rescue_deep": 0.2},
          "on_noise": {"rpeak_mindelay_keep": "prominent_negative_last", "rpeak_minimum_gap_s": 0.25,
                       "rpeak_rescue_deep": 0.2, "rpeak_guard_noise": 1.7,
                       "rpeak_guard_constants": {"noise_correlation": 0.8}},
          "on_post_wide": {"rpeak_mindelay_keep": "prominent_negative_last", "rpeak_minimum_gap_s": 0.25,
                           "rpeak_rescue_deep": 0.2, "rpeak_guard_noise": 1.7, "rpeak_guard_post_wide": 0.4,
                           "rpeak_guard_constants": {"noise_correlation": 0.8}}}
RULE = ("the port stays when both files convert with builtin ops only and the agreement with the options on is at "
        "most 0.001 below the agreement with them off (Se and +P, CinC validation records, 50 ms); the default is not "
        "changed; the deep rescue's port stays when its file converts with builtin ops only and the agreement at "
        "on_deep is at most 0.001 below on; the noise check's port stays when its file converts with builtin ops only "
        "and the agreement at on_noise is at most 0.001 below on_deep; the post-wide-beat check's port stays when its "
        "file converts with builtin ops only and the agreement at on_post_wide is at most 0.001 below on_noise; the "
        "T-wave check's port (run s38) stays when its file converts with builtin ops only and the agreement at "
        "on_t_wave is at most 0.001 below on_post_wide")
MODEL = "cinc2017-edge"


def _configs(points=None):
    """The preset's model path, task and, for each point of ``points`` (default ``POINTS``: name -> signal options),
    its config with the preset's signal config and the point's options."""
    from ecgsl_keras.serving.inference import find_metadata
    from ecgsl_keras.store.runs import resolve_model_arg

    model_path = resolve_model_arg(MODEL)
    config, task, _ = find_metadata(model_path)
    return model_path, task, {point: dataclasses.replace(config, signal=dataclasses.replace(config.signal, **options))
                              for point, options in (POINTS if points is None else points).items()}


def export(args, work: Path, points=None) -> dict:
    """Each point's end-to-end files in ``work/export_<point>`` (``points``: as ``_configs``), sizes and op sets."""
    from ai_edge_litert.interpreter import Interpreter

    from ecgsl_keras.serving import edge
    from ecgsl_keras.serving.export import load_classifier

    points = POINTS if points is None else points
    model_path, task, configs = _configs(points)
    classifier = load_classifier(model_path)
    cache = work / "export.json"
    out = json.loads(cache.read_text()) if cache.is_file() else {}
    for point, config in configs.items():
        if point in out:      # exported by an earlier run in this --work
            continue
        folder = work / f"export_{point}"
        report = edge.export_end_to_end(classifier, config, task, folder, formats=("float32", "int8"))
        ops = {}
        for fmt in ("float32", "int8"):
            interpreter = Interpreter(model_path=str(folder / edge.tflite_name(fmt)))
            ops[fmt] = sorted({op["op_name"] for op in interpreter._get_ops_details()})
        out[point] = {"signal_options": points[point], "sizes_bytes": report["sizes_bytes"], "ops": ops,
                      "builtin_only": all(not (name.startswith("Flex") or name == "CUSTOM")
                                          for names in ops.values() for name in names),
                      "while_ops": {fmt: int(sum(op["op_name"] == "WHILE" for op in Interpreter(
                          model_path=str(folder / edge.tflite_name(fmt)))._get_ops_details())) for fmt in ops},
                      "fixture_agreement": report.get("python_path_agreement")}
        log.info("export %s: %s", point, out[point]["sizes_bytes"])
        cache.write_text(json.dumps(out, indent=2) + "\n")
    return out


def _negative_window(n, fs):
    """A window with negative beats 0.26 s after every other narrow one (the test's ``_negative_beats``), inverted
    record-like spikes on noise: the contest keeps minima there."""
    t = np.arange(n) / fs
    x = np.zeros(n)
    for at in np.arange(0.5, n / fs - 0.5, 0.8):
        x += np.exp(-0.5 * ((t - at) / 0.012) ** 2)
    for at in np.arange(0.5, n / fs - 0.5, 1.6) + 0.26:
        d = t - at
        x -= np.exp(-0.5 * (d / np.where(d < 0, 0.015, 0.04)) ** 2)
    return (x + 0.02 * np.random.default_rng(1).standard_normal(n)).astype(np.float32)


def latency(args, work: Path) -> dict:
    from ecgsl_keras.serving import edge

    meta = json.loads((work / "export_off" / edge.METADATA_NAME).read_text())
    n, fs = int(meta["input"]["max_samples"]), float(meta["input"]["rate_hz"])
    rng = np.random.default_rng(0)
    t = np.arange(n) / fs
    windows = {"spikes": (np.exp(-((t % 0.9) - 0.3) ** 2 / 2e-4) + 0.05 * rng.standard_normal(n)).astype(np.float32),
               "negative_beats": _negative_window(n, fs)}
    runs = {(point, fmt): edge.Runner(work / f"export_{point}" / edge.tflite_name(fmt), num_threads=1)
            for point in POINTS for fmt in ("float32", "int8")}
    out = {}
    for wname, x in windows.items():
        times = {key: ([], []) for key in runs}
        for key, run in runs.items():
            assert int(run(x)["valid"]) == 1, (key, wname)
            for _ in range(10):
                run(x)
        # rounds in turn, so both points see the same load
        for _ in range(args.rounds):
            for key, run in runs.items():
                for _ in range(args.repeats // args.rounds):
                    t0, c0 = time.perf_counter(), time.process_time()
                    run(x)
                    times[key][0].append((time.perf_counter() - t0) * 1e3)
                    times[key][1].append((time.process_time() - c0) * 1e3)
        out[wname] = {f"{point}_{fmt}": {"median_ms": float(np.median(w)), "p95_ms": float(np.percentile(w, 95)),
                                         "cpu_median_ms": float(np.median(c)), "cpu_p95_ms": float(np.percentile(c, 95)),
                                         "calls": len(w)}
                      for (point, fmt), (w, c) in times.items()}
        out[wname]["n_beats"] = {f"{point}_{fmt}": int(run(x)["n_beats"]) for (point, fmt), run in runs.items()}
    out.update(window_samples=n, threads=1, load_average_1min=os.getloadavg()[0], cpus=os.cpu_count())
    return out


def _records(cinc: str, every: int):
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.prepare import assign_splits

    reader = open_dataset("cinc2017", cinc)
    splits = assign_splits(reader, "cinc2017", "default", 0.2, 42)    # TrainConfig defaults: the presets' split
    return reader, sorted(r for r, s in splits.items() if s == "validation")[::every]


def graph_windows(run, at, window: int) -> list:
    """The file's (``run``: an ``edge.Runner``) kept peaks in each of its windows of ``at`` (the record at the file's
    rate): ``[(start, length, peaks)]``, no peaks where the file calls a window invalid."""
    from ecgsl_keras.serving import edge

    out = []
    for start in edge.window_starts(len(at), window):
        seg = at[start:start + window]
        got = run(seg)
        found = (got["rpeaks"][got["rpeak_mask"]].astype(np.int64) + start if int(got["valid"])
                 else np.zeros(0, np.int64))
        out.append((start, len(seg), found))
    return out


def score_windows(windows, python, lo: int, hi: int, rate: float) -> dict:
    """Python's peaks against the file's, window by window, on the beats the file can classify (at least ``lo``
    samples after a window's start and ``hi`` before its end), 50 ms: tp / fn / fp and each side's peaks there."""
    from ecgsl_keras.data import signal as signal_lib

    counts = {"tp": 0, "fn": 0, "fp": 0}
    graph_all, python_all = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for start, n, found in windows:
        a, b = start + lo, start + n - hi
        g, p = found[(found >= a) & (found < b)], python[(python >= a) & (python < b)]
        m = signal_lib.match_peaks(p, g, int(round(0.05 * rate)))
        for key in counts:
            counts[key] += m[key]
        graph_all.append(g)
        python_all.append(p)
    return {**counts, "graph": np.unique(np.concatenate(graph_all)).tolist(),
            "python": np.unique(np.concatenate(python_all)).tolist()}


def classifiable_margins(signal_config, rate: float) -> tuple:
    """(lo, hi): the samples at ``rate`` a classifiable beat's R needs after a window's start and before its end."""
    factor = rate / signal_config.target_fs
    return (int(signal_config.r_offset * factor),
            int((signal_config.beat_len - signal_config.r_offset) * factor))


def read_rows(path: Path) -> dict:
    """A resumable JSON-lines cache: record id -> its row (a later line of a record replaces an earlier one)."""
    done = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            done[row["record"]] = row
    return done


def agreement_rows(work: Path, reader, ids, graph_points: dict, python_points: dict, cache: Path, pairs=None,
                   counts_only: bool = False) -> tuple:
    """Per record of ``ids`` (``reader``'s), for each ``pairs`` key (key -> (graph point, Python point); default:
    ``"<graph>|<python>"`` for every graph point against every Python point): the graph
    point's float32 file (``work/export_<graph point>``) window by window against ``signal.find_rpeaks`` at the
    Python point on the whole record at its rate, the peaks mapped to the file's rate (``score_windows``: 50 ms, the
    beats the file can classify), or ``{"refused": <exception name>}`` where the Python path refuses the record.
    ``graph_points`` / ``python_points``: name -> signal options on top of the preset's (``_configs``).
    ``counts_only``: keep tp / fn / fp only. Resumable: the rows are cached per record in the JSON-lines ``cache``, a
    rerun computes the missing keys only. Returns the rows in the order of ``ids`` and, per graph point of ``pairs``,
    its file's (rate, window, lo, hi): input rate and window (its export's ``end_to_end.json``) and the classifiable
    margins at that rate (``classifiable_margins``)."""
    from ecgsl_keras.data import signal as signal_lib
    from ecgsl_keras.serving import edge

    pairs = pairs or {f"{g}|{q}": (g, q) for g in graph_points for q in python_points}
    used = sorted({g for g, _ in pairs.values()}, key=list(graph_points).index)
    _, _, py_configs = _configs(python_points)
    _, _, graph_configs = _configs({g: graph_points[g] for g in used})
    geometry = {}
    for g in used:
        meta = json.loads((work / f"export_{g}" / edge.METADATA_NAME).read_text())
        rate = float(meta["input"]["rate_hz"])
        geometry[g] = (rate, int(meta["input"]["max_samples"])) + classifiable_margins(graph_configs[g].signal, rate)
    runs = {g: edge.Runner(work / f"export_{g}" / edge.tflite_name("float32"), num_threads=1) for g in used}
    done = read_rows(cache)
    with cache.open("a") as sink:
        for i, rid in enumerate(ids):
            if rid in done and all(k in done[rid] for k in pairs):
                continue
            record = reader.load(rid)
            x, fs = np.asarray(record.lead(), np.float64), float(record.fs)
            row = done.get(rid, {"record": rid, "seconds": x.size / fs})
            todo = [k for k in pairs if k not in row]
            windows, python = {}, {}
            for key in todo:
                g, q = pairs[key]
                rate, window, lo, hi = geometry[g]
                if g not in windows:
                    windows[g] = graph_windows(runs[g], signal_lib.resample(x, fs, rate).astype(np.float32), window)
                if q not in python:     # once at the record's rate, mapped to each file's rate below
                    try:
                        python[q] = signal_lib.find_rpeaks(x, fs, py_configs[q].signal)
                    except Exception as exc:     # a record the Python path refuses: counted, not compared
                        python[q] = type(exc).__name__
                if isinstance(python[q], str):
                    row[key] = {"refused": python[q]}
                    continue
                score = score_windows(windows[g], np.rint(python[q] * rate / fs).astype(np.int64), lo, hi, rate)
                row[key] = {c: score[c] for c in ("tp", "fn", "fp")} if counts_only else score
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            done[rid] = row
            if i % 100 == 0:
                log.info("agreement rows %d / %d (%s)", i, len(ids), cache.name)
    return [done[r] for r in ids], geometry


def agreement(args, work: Path) -> dict:
    reader, ids = _records(args.cinc, args.every)
    rows, geometry = agreement_rows(work, reader, ids, POINTS, POINTS, work / "agreement.jsonl",
                                    {p: (p, p) for p in POINTS})
    return summarise(rows, geometry["off"][0])


def rates(c: dict) -> dict:
    return {**c, "sensitivity": c["tp"] / max(c["tp"] + c["fn"], 1), "ppv": c["tp"] / max(c["tp"] + c["fp"], 1)}


LENGTH_GROUPS = {"all": lambda r: True, "le_30s": lambda r: r["seconds"] <= 30.0,
                 "over_30s": lambda r: r["seconds"] > 30.0}


def agreement_by_length(rows, key: str) -> dict:
    """Se / +P of ``row[key]``'s counts summed over all records and per record length (30 s or less, longer), the
    records the Python path refused, and the records at or above 0.995 on both."""
    out = {}
    for name, keep in LENGTH_GROUPS.items():
        c = {"tp": 0, "fn": 0, "fp": 0}
        for r in rows:
            if keep(r) and "tp" in r[key]:
                for k in c:
                    c[k] += r[key][k]
        out[name] = {**rates(c), "records": sum(1 for r in rows if keep(r))}
    out["refused"] = sum(1 for r in rows if "refused" in r[key])
    out["records_at_or_above_99_5"] = sum(
        1 for r in rows if "tp" in r[key] and r[key]["tp"] >= 0.995 * max(r[key]["tp"] + r[key]["fn"], 1)
        and r[key]["tp"] >= 0.995 * max(r[key]["tp"] + r[key]["fp"], 1))
    return out


def peak_change(rows, old: str, new: str, side: str, rate: float) -> dict:
    """The peaks of one side (``"graph"`` / ``"python"``) found (added) or lost (removed) at 50 ms going from
    ``row[old]`` to ``row[new]``, and the records where any changes."""
    from ecgsl_keras.data import signal as signal_lib

    tol = int(round(0.05 * rate))
    added = removed = records = 0
    for r in rows:
        if "tp" not in r[old] or "tp" not in r[new]:
            continue
        m = signal_lib.match_peaks(np.asarray(r[old][side], np.int64), np.asarray(r[new][side], np.int64), tol)
        added, removed = added + m["fp"], removed + m["fn"]
        records += int(m["fp"] > 0 or m["fn"] > 0)
    return {"peaks_added": added, "peaks_removed": removed, "records_changed": records}


def summarise(rows, rate) -> dict:
    out = {"records": len(rows), "tolerance_ms": 50}
    for point in POINTS:
        out[point] = agreement_by_length(rows, point)
    # what the options change, each side: peaks found / lost at 50 ms against the point before
    for new, old in (("on", "off"), ("on_deep", "on"), ("on_noise", "on_deep"), ("on_post_wide", "on_noise")):
        for side in ("graph", "python"):
            out[f"{side}_change_{new}_vs_{old}"] = peak_change(rows, old, new, side, rate)
    return out


def _step_stays(a: dict, exported: dict, new: str, old: str) -> dict:
    """A later step's rule (module docstring): its port stays when point ``new``'s file converts with builtin ops only
    and its agreement is at most 0.001 below point ``old``'s, Se and +P; and its distance to 0.995."""
    drop = {key: a[old]["all"][key] - a[new]["all"][key] for key in ("sensitivity", "ppv")}
    return {f"agreement_drop_{new}_vs_{old}": drop, "builtin_only": exported[new]["builtin_only"],
            "port_stays": bool(exported[new]["builtin_only"] and max(drop.values()) <= 0.001),
            "target_0_995_distance": {key: a[new]["all"][key] - 0.995 for key in ("sensitivity", "ppv")}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--cinc", default=str(CINC2017))
    p.add_argument("--every", type=int, default=1, help="every k-th validation record (1: all 1,365)")
    p.add_argument("--steps", nargs="+", default=["export", "latency", "agreement"])
    p.add_argument("--repeats", type=int, default=300)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    result = {"experiment": "edge_gap_port", "issue": 21, "model": MODEL, "points": POINTS, "rule": RULE,
              "command": "python experiments/edge/gap_port.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    if "export" in args.steps:
        result["export"] = export(args, args.work)
    if "latency" in args.steps:
        last = f"{list(POINTS)[-1]}_float32"
        if (args.work / "latency.json").is_file() and last not in json.loads((args.work / "latency.json").read_text())["spikes"]:
            (args.work / "latency.json").unlink()     # a point added since: all points timed again, in turn
        result["latency"] = _cached(args.work, "latency", lambda: latency(args, args.work))
    if "agreement" in args.steps:
        result["agreement"] = agreement(args, args.work)
        result["agreement"]["every"] = args.every
    if "export" in result and "agreement" in result and args.every == 1:
        a = result["agreement"]
        drop = {key: a["off"]["all"][key] - a["on"]["all"][key] for key in ("sensitivity", "ppv")}
        builtin = all(result["export"][point]["builtin_only"] for point in ("off", "on"))
        result["decision"] = {"agreement_drop_on_vs_off": drop, "builtin_only": builtin,
                              "port_stays": bool(builtin and max(drop.values()) <= 0.001),
                              "target_0_995_distance_on": {key: a["on"]["all"][key] - 0.995 for key in ("sensitivity", "ppv")},
                              "deep": _step_stays(a, result["export"], "on_deep", "on"),
                              "noise": _step_stays(a, result["export"], "on_noise", "on_deep"),
                              "post_wide": _step_stays(a, result["export"], "on_post_wide", "on_noise"),
                              "default": "unchanged (rpeak_mindelay_keep 'first', rpeak_minimum_gap_s 0, "
                                         "rpeak_rescue_deep 0, rpeak_guard_noise 0, rpeak_guard_post_wide 0, "
                                         "rpeak_guard_t_wave 0)"}
    return finish(result, "experiments/edge/gap_port.py", args, argv)


if __name__ == "__main__":
    raise SystemExit(main())

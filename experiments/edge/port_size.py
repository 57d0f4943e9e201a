"""Issue 21 deliverable 2/3: the size of the ported guard steps (``EndToEnd.noise_check``, ``post_wide_check``, the
contest of ``refractory_contest``) before and after a change that makes them smaller (run s37: one pack, one QRS
window and amplitude for both late steps; run s38: no (K, K) count in their neighbour statistics, one table of
neighbour rows for both, the post-wide check's per-peak values gathered instead of the samples, no no-op
STRIDED_SLICE from ``[:, None]``, the contest's flags as bool). ``serving/edge.py`` as of ``--before`` (a commit;
``git show``) and as in the working tree, each in its own process (``--side``): the ``cinc2017-edge`` preset exported
end to end at ``gap_port.py``'s ``--points`` (float32 and int8 sizes and SHA-256), the in-graph peaks
(``EndToEnd.peaks``, 30 s windows at 100 Hz, the preset's detection settings) at each point on the embedded CinC
sample, 5 minutes of each MIT-BIH fixture record and the first 30 s of every ``--every``-th CinC validation record
(``gap_port._records``; skipped when ``--cinc`` is absent), and every output of both exported files (LiteRT, 1 thread)
on the first window at the file's input rate of the CinC sample's records and of those validation records. Since run
s39 the files are measured as ``export`` writes them: ``edge.convert_tflite``'s bytes through
``tflite_file.strip_empty_tables`` (the sizes of the JSONs before, ``edge_port_size*.json``, are without that strip).

    python experiments/edge/port_size.py --before dfed342 --work WORK --out benchmarks/results/edge_port_size.json
    python experiments/edge/port_size.py --before b284def --points on on_deep on_noise on_post_wide --work WORK \
        --out benchmarks/results/edge_port_size_s38.json

Keep rule, fixed before any figure: the smaller form stays when every window's peaks are identical at every point,
every output of the exported files is identical (run s38 on; run s37 checked the outputs apart) and the files are
smaller; the default export is checked apart (``gap_port_default_check.py``).

Prints one JSON object as the last line of stdout (logs to stderr) and writes it to ``--out``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from look_output import finish  # noqa: E402  (write --out, print the JSON: one helper)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from experiments.shared_data import CINC2017  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))
POINTS = ("on_noise", "on_post_wide")
RULE = ("the smaller form stays when every window's in-graph peaks are identical before/after at every point, every "
        "output of the exported files (float32, int8) is identical on the output windows, and the files are smaller; "
        "the default export is checked apart (gap_port_default_check.py)")


def run_side(args) -> None:
    """One side's peaks (``WORK/peaks_SIDE.npz``) and file sizes (``WORK/tflite_SIDE.json``)."""
    import tensorflow as tf

    from ecgsl_keras.data import signal as signal_lib
    from ecgsl_keras.data.datasets.cinc2017 import cinc2017_sample_dir
    from ecgsl_keras.data.readers import read_lead
    from ecgsl_keras.serving import tflite_file
    from ecgsl_keras.serving.export import load_classifier
    from gap_port import POINTS as OPTIONS, _configs, _records
    from gap_port_default_check import _module, fixture_windows

    edge = _module(args.side, args.before, args.work)
    windows = fixture_windows()
    # (signal, rate) of the records whose first window goes through the exported files
    records = [read_lead(Path(cinc2017_sample_dir()) / header.stem)[:2]
               for header in sorted(Path(cinc2017_sample_dir()).glob("*.hea"))]
    if Path(args.cinc).is_dir():
        reader, ids = _records(args.cinc, args.every)
        for rid in ids:
            record = reader.load(rid)
            signal = np.asarray(record.lead(), np.float64)
            records.append((signal, float(record.fs)))
            windows.append(signal_lib.resample(signal, float(record.fs), 100.0)[:3000].astype(np.float32))
    model_path, task, configs = _configs()
    saved, windows_run = {}, 0
    for point in args.points:
        sc = configs[point].signal
        assert all(getattr(sc, key) == value for key, value in OPTIONS[point].items()
                   if key != "rpeak_guard_constants"), point
        graph = edge.EndToEnd(None, sc, 128, 3, edge.resolve_edge_config(edge.EdgeConfig(), sc, task.name))
        run = tf.function(graph.peaks, input_signature=[tf.TensorSpec((None,), tf.float32)])
        i = 0
        for x in windows:
            for start in edge.window_starts(len(x), 3000):
                pos, ok = run(tf.constant(x[start:start + 3000]))
                saved[f"{point}_{i}_pos"], saved[f"{point}_{i}_ok"] = pos.numpy(), ok.numpy()
                i += 1
        windows_run = i
    np.savez(args.work / f"peaks_{args.side}.npz", **saved)
    classifier = load_classifier(model_path)
    sizes, outputs = {"windows": windows_run, "output_windows": len(records)}, {}
    for point in args.points:
        config = configs[point]
        graph = edge.build(classifier, config, edge.resolve_edge_config(edge.EdgeConfig(), config.signal, task.name))
        folder = Path(tempfile.mkdtemp(dir=args.work)) / "saved_model"
        edge.write_saved_model(graph, folder)
        sizes[point] = {}
        for fmt in ("float32", "int8"):
            # as export writes it (serving.export strips the end-to-end files after edge writes them)
            flatbuffer = tflite_file.strip_empty_tables(edge.convert_tflite(folder, fmt))
            sizes[point][fmt] = {"bytes": len(flatbuffer), "sha256": hashlib.sha256(flatbuffer).hexdigest()}
            path = folder.parent / f"{fmt}.tflite"
            path.write_bytes(flatbuffer)
            run = edge.Runner(path, num_threads=1)
            for i, (signal, fs) in enumerate(records):
                window = signal_lib.resample(signal, fs, graph.input_rate)[:graph.n_input].astype(np.float32)
                for name, value in run(window).items():
                    outputs[f"{point}_{fmt}_{i}_{name}"] = np.asarray(value)
        print(point, sizes[point], file=sys.stderr)
    np.savez(args.work / f"outputs_{args.side}.npz", **outputs)
    (args.work / f"tflite_{args.side}.json").write_text(json.dumps(sizes))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="the commit before the change")
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--cinc", default=str(CINC2017))
    p.add_argument("--every", type=int, default=100, help="every k-th CinC validation record")
    p.add_argument("--points", nargs="+", default=list(POINTS), help="gap_port.py's points")
    p.add_argument("--side", choices=("before", "after"), help="internal: run one side in this process")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.side:
        run_side(args)
        return 0
    for side in ("before", "after"):
        # one process each: tf.function's conversion cache mixes two modules' methods of the same name
        if not (args.work / f"tflite_{side}.json").is_file():
            subprocess.run([sys.executable, __file__, "--before", args.before, "--work", str(args.work), "--cinc",
                            args.cinc, "--every", str(args.every), "--points", *args.points, "--side", side], check=True)
    before, after = np.load(args.work / "peaks_before.npz"), np.load(args.work / "peaks_after.npz")
    peaks = {}
    for point in args.points:
        keys = sorted(k[: -len("_pos")] for k in before.files if k.startswith(point + "_") and k.endswith("_pos")
                      and k[len(point) + 1:-len("_pos")].isdigit())      # "on" is not "on_deep"
        same = sum(int(np.array_equal(before[k + "_pos"], after[k + "_pos"])
                       and np.array_equal(before[k + "_ok"], after[k + "_ok"])) for k in keys)
        peaks[point] = {"windows": len(keys), "identical": same}
    tflite = {side: json.loads((args.work / f"tflite_{side}.json").read_text()) for side in ("before", "after")}
    sizes = {point: {fmt: {"before": tflite["before"][point][fmt]["bytes"], "after": tflite["after"][point][fmt]["bytes"],
                           "saved": tflite["before"][point][fmt]["bytes"] - tflite["after"][point][fmt]["bytes"]}
                     for fmt in ("float32", "int8")} for point in args.points}
    compared = None
    if all((args.work / f"outputs_{side}.npz").is_file() for side in ("before", "after")):
        # every output of both files on every output window (absent in a run s37 work folder)
        out_b, out_a = np.load(args.work / "outputs_before.npz"), np.load(args.work / "outputs_after.npz")
        compared = {point: {fmt: {"windows": tflite["after"]["output_windows"],
                                  "identical": sum(all(np.array_equal(out_b[key], out_a[key]) for key in out_b.files
                                                       if key.startswith(f"{point}_{fmt}_{i}_"))
                                                   and any(key.startswith(f"{point}_{fmt}_{i}_") for key in out_b.files)
                                                   for i in range(tflite["after"]["output_windows"]))}
                            for fmt in ("float32", "int8")} for point in args.points}
    goal = 400_000
    result = {"experiment": "edge_port_size", "issue": 21, "model": "cinc2017-edge", "before": args.before,
              "rule": RULE,
              "command": "python experiments/edge/port_size.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "sizes_bytes": sizes, "peaks": peaks, "tflite": tflite,
              "all_peaks_identical": all(v["windows"] == v["identical"] for v in peaks.values()),
              "int8_goal_bytes": goal}
    if "on_post_wide" in sizes:
        result["on_post_wide_int8_over_goal_bytes"] = sizes["on_post_wide"]["int8"]["after"] - goal
    kept = result["all_peaks_identical"] and all(v["saved"] > 0 for s in sizes.values() for v in s.values())
    if compared is not None:
        result["tflite_outputs"] = compared
        result["all_tflite_outputs_identical"] = all(v["windows"] == v["identical"] for c in compared.values()
                                                     for v in c.values())
        kept = kept and result["all_tflite_outputs_identical"]
    result["kept"] = kept
    return finish(result, "experiments/edge/port_size.py", args, argv)


if __name__ == "__main__":
    raise SystemExit(main())

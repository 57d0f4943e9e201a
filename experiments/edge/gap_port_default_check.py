"""Issue 21 port steps 1-2: the default in-graph detector is unchanged by the port. ``serving/edge.py`` as of
``--before`` (a commit; ``git show``) and as in the working tree, each in its own process (``--side``): the peaks of
``EndToEnd.peaks`` (eager, 30 s windows at 100 Hz) on the embedded CinC sample and 5 minutes of each MIT-BIH fixture
record, for the default signal config and the other rules the graph ran before ("prominent", with and without
``rpeak_keep_first_beat``; the ``cinc2017-edge`` preset's 100 Hz detection), and the SHA-256 of the ``cinc2017-edge``
preset's end-to-end TFLite files (float32, int8).

    python experiments/edge/gap_port_default_check.py --before 40a9747 --work WORK \\
        --out benchmarks/results/edge_gap_port_default_check.json

Prints one JSON object as the last line of stdout (logs to stderr) and writes it to ``--out``.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from look_output import finish  # noqa: E402  (write --out, print the JSON: one helper)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
CONFIGS = {"default": {}, "prominent": {"rpeak_mindelay_keep": "prominent"},
           "prominent_first_beat": {"rpeak_mindelay_keep": "prominent", "rpeak_keep_first_beat": True},
           "detect_at_100hz": {"detect_at_native_rate": False}}


def _module(side: str, before: str, work: Path):
    if side == "after":
        from ecgsl_keras.serving import edge

        return edge
    path = work / "edge_before.py"
    path.write_text(subprocess.run(["git", "show", f"{before}:ecgsl_keras/serving/edge.py"], cwd=REPO, check=True,
                                   capture_output=True, text=True).stdout)
    spec = importlib.util.spec_from_file_location("edge_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["edge_before"] = module        # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def fixture_windows() -> list:
    """The repository's fixture signals at 100 Hz (float32): the CinC 2017 sample's records and MIT-BIH 119 / 208's
    first 300 s, the windows both sides of a check run through the graph."""
    from ecgsl_keras.bench.rpeaks import read_mitdb
    from ecgsl_keras.data import signal as signal_lib
    from ecgsl_keras.data.datasets.cinc2017 import cinc2017_sample_dir
    from ecgsl_keras.data.readers import read_lead

    windows = []
    sample = Path(cinc2017_sample_dir())
    for header in sorted(sample.glob("*.hea")):
        signal, fs, _ = read_lead(sample / header.stem)
        windows.append(signal_lib.resample(signal, fs, 100.0).astype(np.float32))
    for rid in ("119", "208"):
        signal, fs, *_ = read_mitdb(REPO / "tests" / "fixtures" / "mitdb", rid)
        windows.append(signal_lib.resample(signal, fs, 100.0)[:30000].astype(np.float32))
    return windows


def run_side(side: str, before: str, work: Path) -> None:
    """One side's peaks (``WORK/peaks_SIDE.npz``) and file hashes (``WORK/tflite_SIDE.json``)."""
    import tempfile

    import tensorflow as tf

    from ecgsl_keras.config import SignalConfig
    from ecgsl_keras.serving.export import load_classifier
    from ecgsl_keras.serving.inference import find_metadata
    from ecgsl_keras.store.runs import resolve_model_arg

    edge = _module(side, before, work)
    windows = fixture_windows()
    saved = {}
    for label, options in CONFIGS.items():
        sc = SignalConfig(**options)
        graph = edge.EndToEnd(None, sc, 128, 3, edge.resolve_edge_config(edge.EdgeConfig(), sc, "cinc2017"))
        run = tf.function(graph.peaks, input_signature=[tf.TensorSpec((None,), tf.float32)])
        i = 0
        for x in windows:
            for start in edge.window_starts(len(x), 3000):
                pos, ok = run(tf.constant(x[start:start + 3000]))
                saved[f"{label}_{i}_pos"], saved[f"{label}_{i}_ok"] = pos.numpy(), ok.numpy()
                i += 1
    np.savez(work / f"peaks_{side}.npz", **saved)
    model_path = resolve_model_arg("cinc2017-edge")
    config, task, _ = find_metadata(model_path)
    graph = edge.build(load_classifier(model_path), config, edge.resolve_edge_config(edge.EdgeConfig(), config.signal,
                                                                                      task.name))
    folder = Path(tempfile.mkdtemp(dir=work)) / "saved_model"
    edge.write_saved_model(graph, folder)
    hashes = {}
    for fmt in ("float32", "int8"):
        flatbuffer = edge.convert_tflite(folder, fmt)
        hashes[fmt] = {"bytes": len(flatbuffer), "sha256": hashlib.sha256(flatbuffer).hexdigest()}
    (work / f"tflite_{side}.json").write_text(json.dumps(hashes))


def before_after(script: str, description: str, argv, run_side, done):
    """The command line of a before / after check (``--before``, ``--work``, ``--out``) and its two sides: each side
    not ``done(work, side)`` yet (a file it writes last) is ``run_side(side, before, work)`` in its own process
    (``script --side SIDE``). Returns the arguments, or None in a ``--side`` process (its side run)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--before", required=True, help="the commit before the change")
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--side", choices=("before", "after"), help="internal: run one side in this process")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.side:
        run_side(args.side, args.before, args.work)
        return None
    for side in ("before", "after"):
        # one process each: tf.function's conversion cache mixes two modules' methods of the same name
        if not done(args.work, side).is_file():
            subprocess.run([sys.executable, script, "--before", args.before, "--work", str(args.work), "--side", side],
                           check=True)
    return args


def main(argv=None) -> int:
    args = before_after(__file__, __doc__.splitlines()[0], argv, run_side,
                        lambda work, side: work / f"tflite_{side}.json")
    if args is None:
        return 0
    before, after = np.load(args.work / "peaks_before.npz"), np.load(args.work / "peaks_after.npz")
    peaks = {}
    for label in CONFIGS:
        keys = sorted(k[: -len("_pos")] for k in before.files if k.startswith(label + "_") and k.endswith("_pos")
                      and k[len(label) + 1:-len("_pos")].isdigit())
        same = sum(int(np.array_equal(before[k + "_pos"], after[k + "_pos"])
                       and np.array_equal(before[k + "_ok"], after[k + "_ok"])) for k in keys)
        peaks[label] = {"windows": len(keys), "identical": same}
    tflite = {side: json.loads((args.work / f"tflite_{side}.json").read_text()) for side in ("before", "after")}
    result = {"experiment": "edge_gap_port_default_check", "issue": 21, "before": args.before,
              "command": "python experiments/edge/gap_port_default_check.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "peaks": peaks, "tflite": tflite,
              "tflite_identical": {fmt: tflite["before"][fmt]["sha256"] == tflite["after"][fmt]["sha256"]
                                   for fmt in ("float32", "int8")},
              "all_peaks_identical": all(v["windows"] == v["identical"] for v in peaks.values())}
    return finish(result, "experiments/edge/gap_port_default_check.py", args, argv)


if __name__ == "__main__":
    raise SystemExit(main())

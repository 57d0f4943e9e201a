"""Issue 21 deliverable 3 (bytes): the strip of ``ecgsl_keras.serving.tflite_file`` (no empty quantization tables, no
empty buffers) leaves every output of every exported TFLite form bit for bit as it was.

For the ``cinc2017-edge`` preset, each file is converted as the export converts it, once as the converter writes it
(with the end-to-end file's tensor names stripped, as ``edge.convert_tflite`` ships it: "unstripped") and once through
``tflite_file.strip_empty_tables`` ("stripped"):

* end to end (``edge.convert_tflite``), float32 and int8, at ``gap_port.py``'s ``--points`` (default ``off`` = the
  shipped export, and ``on_post_wide``): every output (probabilities, attention, rpeaks, mask, n_beats, valid,
  status) compared byte for byte on (a) the 78 output windows of ``port_size.py`` (the first window at the file's
  input rate of each CinC sample record and of every ``--every``-th CinC validation record) and (b) every 30 s window
  (``edge.window_starts``) of the fixture records (the embedded CinC sample, MIT-BIH 119 and 208's first 300 s);
* classifier only (``serving.export.convert_tflite``), float32, float16, int8 dynamic range and int8 full integer
  (calibrated on the export's own calibration windows): both outputs compared byte for byte on the export's parity
  windows of the embedded CinC sample;

each under LiteRT (``ai_edge_litert``, 1 thread and the default threads) and TensorFlow's ``tf.lite.Interpreter``;
plus operator counts, tensor count, constant bytes and their SHA-256 in tensor order, and the signatures, which must
be equal. Keep rule (fixed before any figure): the strip stays when every output is identical on every window, in
every form and interpreter, the structure is equal and every file is smaller.

    python experiments/edge/strip_identity.py --work /work/runs/s39-strip/identity \
        --out benchmarks/results/edge_strip.json

Prints one JSON object as the last line of stdout (logs to stderr) and writes it to ``--out``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from experiments.shared_data import CINC2017  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))
POINTS = ("off", "on_post_wide")
RULE = ("the strip stays when every output of every form (end to end float32/int8 at each point, classifier only "
        "float32/float16/int8 dynamic/int8 full) is byte-identical on every window under LiteRT (1 thread and default "
        "threads) and tf.lite.Interpreter, operator counts, tensor count, constant bytes (SHA-256) and signatures are "
        "equal, and every file is smaller")
GOAL = 400_000


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _unstripped():
    """``serving.export.convert_tflite`` without its strip step: the converter's own bytes."""
    from ecgsl_keras.serving import export, tflite_file

    strip = tflite_file.strip_empty_tables
    export.tflite_file.strip_empty_tables = lambda flatbuffer: flatbuffer
    try:
        yield
    finally:
        export.tflite_file.strip_empty_tables = strip


class _Runners:
    """One file's signature runner under each interpreter: ``runners(inputs) -> {interpreter: outputs}``."""

    def __init__(self, path, signature: str):
        import tensorflow as tf
        from ai_edge_litert.interpreter import Interpreter
        from tfrecords_tools import quiet

        self.runners = {}
        with quiet.filtered_stderr():
            for name, make in (("litert_1_thread", lambda: Interpreter(model_path=str(path), num_threads=1)),
                               ("litert_default", lambda: Interpreter(model_path=str(path))),
                               ("tf_lite", lambda: tf.lite.Interpreter(model_path=str(path)))):
                interpreter = make()
                interpreter.allocate_tensors()
                self.runners[name] = (interpreter, interpreter.get_signature_runner(signature))

    def __call__(self, inputs: dict) -> dict:
        return {name: {k: np.array(v) for k, v in runner(**inputs).items()} for name, (_, runner) in self.runners.items()}


def _same(a: dict, b: dict) -> bool:
    """Every output equal byte for byte (dtype and shape too: NaN compares equal to the same NaN)."""
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
                                        and a[k].tobytes() == b[k].tobytes() for k in a)


def _compare(files: dict, signature: str, inputs: list) -> dict:
    """Run both files (``files``: unstripped/stripped paths) on every input; per interpreter, windows identical."""
    before, after = _Runners(files["unstripped"], signature), _Runners(files["stripped"], signature)
    identical = {name: 0 for name in before.runners}
    valid = 0
    for x in inputs:
        out_b, out_a = before(x), after(x)
        for name in identical:
            identical[name] += int(_same(out_b[name], out_a[name]))
        valid += int(out_b["litert_1_thread"].get("valid", 1))
    return {"windows": len(inputs), "valid_windows": valid, "identical": identical}


def _structure(files: dict) -> dict:
    from ecgsl_keras.serving import tflite_file

    desc = {side: tflite_file.describe(Path(path).read_bytes()) for side, path in files.items()}
    b, a = desc["unstripped"], desc["stripped"]
    return {"bytes": {"unstripped": b["bytes"], "stripped": a["bytes"], "saved": b["bytes"] - a["bytes"]},
            "operators": sum(b["operators"].values()), "operator_counts_equal": b["operators"] == a["operators"],
            "tensors_equal": b["tensors"] == a["tensors"], "constant_bytes": b["constant_bytes"],
            "constants_equal": (b["constant_bytes"], b["constants_sha256"]) == (a["constant_bytes"],
                                                                                 a["constants_sha256"]),
            "signatures_equal": b["signatures"] == a["signatures"],
            "quantization_tables": {"unstripped": b["quantization_tables"], "stripped": a["quantization_tables"]},
            "buffers": {"unstripped": b["buffers"], "stripped": a["buffers"]}}


def _write_pair(folder: Path, fmt: str, convert) -> dict:
    """``folder/FMT.tflite`` (unstripped) and ``FMT_stripped.tflite``; reused when present (resumable)."""
    from ecgsl_keras.serving import tflite_file

    paths = {"unstripped": folder / f"{fmt}.tflite", "stripped": folder / f"{fmt}_stripped.tflite"}
    if not paths["unstripped"].is_file():
        t0 = time.perf_counter()
        flatbuffer = convert()
        paths["unstripped"].write_bytes(flatbuffer)
        log(f"{folder.name}/{fmt}: converted in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    paths["stripped"].write_bytes(tflite_file.strip_empty_tables(paths["unstripped"].read_bytes()))
    log(f"{folder.name}/{fmt}: stripped in {time.perf_counter() - t0:.2f} s")
    return paths


def end_to_end_windows(cinc: str, every: int, rate: float, n_input: int) -> dict:
    """``port_size``'s output windows and every 30 s window of the fixture records, at the file's rate."""
    from ecgsl_keras.bench.rpeaks import read_mitdb
    from ecgsl_keras.data import signal as signal_lib
    from ecgsl_keras.data.datasets.cinc2017 import cinc2017_sample_dir
    from ecgsl_keras.data.readers import read_lead
    from ecgsl_keras.serving import edge
    from gap_port import _records

    sample = Path(cinc2017_sample_dir())
    records = [read_lead(sample / header.stem)[:2] for header in sorted(sample.glob("*.hea"))]
    n_sample = len(records)
    if Path(cinc).is_dir():
        reader, ids = _records(cinc, every)
        for rid in ids:
            record = reader.load(rid)
            records.append((np.asarray(record.lead(), np.float64), float(record.fs)))
    first = [signal_lib.resample(s, fs, rate)[:n_input].astype(np.float32) for s, fs in records]
    fixtures = [signal_lib.resample(s, fs, rate).astype(np.float32) for s, fs in records[:n_sample]]
    for rid in ("119", "208"):
        signal, fs, *_ = read_mitdb(REPO / "tests" / "fixtures" / "mitdb", rid)
        fixtures.append(signal_lib.resample(signal, fs, rate)[:int(300 * rate)].astype(np.float32))
    windows = [x[start:start + n_input] for x in fixtures for start in edge.window_starts(len(x), n_input)]
    return {"output_windows": first, "fixture_windows": windows,
            "described": {"output_windows": f"first {n_input} samples at {rate:g} Hz of the {n_sample} CinC sample "
                                            f"records and {len(records) - n_sample} CinC validation records (every "
                                            f"{every}th, gap_port._records)",
                          "fixture_windows": "every 30 s window (edge.window_starts) of the CinC sample records and "
                                             "MIT-BIH 119 and 208's first 300 s"}}


def run(args) -> dict:
    from ecgsl_keras.serving import edge
    from ecgsl_keras.serving import export as export_lib
    from ecgsl_keras.serving.export import load_classifier
    from gap_port import POINTS as OPTIONS, _configs

    model_path, task, configs = _configs({p: OPTIONS[p] for p in args.points})
    classifier = load_classifier(model_path)
    result = {"end_to_end": {}, "classifier_only": {}}
    windows = None
    for point in args.points:
        config = configs[point]
        graph = edge.build(classifier, config, edge.resolve_edge_config(edge.EdgeConfig(), config.signal, task.name))
        folder = args.work / f"end_to_end_{point}"
        if not (folder / edge.SAVED_MODEL_DIR / "saved_model.pb").is_file():
            edge.write_saved_model(graph, folder / edge.SAVED_MODEL_DIR)
        if windows is None:
            windows = end_to_end_windows(args.cinc, args.every, graph.input_rate, graph.n_input)
            result["end_to_end_windows"] = windows["described"]
        result["end_to_end"][point] = {}
        for fmt in ("float32", "int8"):
            files = _write_pair(folder, fmt, lambda: edge.convert_tflite(folder / edge.SAVED_MODEL_DIR, fmt))
            entry = _structure(files)
            for kind in ("output_windows", "fixture_windows"):
                entry[kind] = _compare(files, edge.SIGNATURE, [{edge.INPUT: x} for x in windows[kind]])
            result["end_to_end"][point][fmt] = entry
            log(point, fmt, json.dumps(entry))
    # classifier only, as serving.export writes it (shipped point's config)
    config = configs[args.points[0]]
    folder = args.work / "classifier_only"
    data = folder / "cinc2017_sample"
    if not (data / "manifest.json").is_file():
        export_lib.prepare_sample(config, data)
    calibration, parity, info = export_lib.representative_and_parity(data, config, args.examples)
    saved = folder / export_lib.SAVED_MODEL_DIR
    if not (saved / "saved_model.pb").is_file():
        export_lib.write_saved_model(classifier, config, saved)
    inputs = [{key: w[key] for key in export_lib.input_keys([w])} for w in parity]
    result["classifier_only_windows"] = {**{k: v for k, v in info.items() if k != "data"},
                                         "data": "embedded cinc2017_sample (prepare_sample)", "windows": len(inputs)}
    for form, (fmt, mode) in {"float32": ("float32", None), "float16": ("float16", None),
                              "int8_dynamic": ("int8", "dynamic"), "int8_full": ("int8", "full")}.items():
        def convert(fmt=fmt, mode=mode):
            with _unstripped():
                return export_lib.convert_tflite(saved, fmt, calibration, mode)
        files = _write_pair(folder, form, convert)
        entry = _structure(files)
        entry["parity_windows"] = _compare(files, export_lib.SERVING_SIGNATURE, inputs)
        result["classifier_only"][form] = entry
        log("classifier", form, json.dumps(entry))
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--cinc", default=str(CINC2017))
    p.add_argument("--every", type=int, default=100, help="every k-th CinC validation record (port_size.py's)")
    p.add_argument("--points", nargs="+", default=list(POINTS), help="gap_port.py's points")
    p.add_argument("--examples", type=int, default=100, help="classifier-only parity windows (ExportConfig.examples)")
    p.add_argument("--export", type=Path, help="a folder written by `python -m ecgsl_keras.export --model "
                   "cinc2017-edge --end-to-end --tflite int8`: its end-to-end file must be the stripped off/int8 file")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    result = run(args)
    checks = []
    for forms in (*result["end_to_end"].values(), result["classifier_only"]):
        for entry in forms.values():
            checks.append(entry["bytes"]["saved"] > 0 and entry["operator_counts_equal"] and entry["tensors_equal"]
                          and entry["constants_equal"] and entry["signatures_equal"])
            for key in ("output_windows", "fixture_windows", "parity_windows"):
                if key in entry:
                    checks.extend(n == entry[key]["windows"] for n in entry[key]["identical"].values())
    out = {"experiment": "edge_strip", "issue": 21, "model": "cinc2017-edge", "rule": RULE,
           "command": "python experiments/edge/strip_identity.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           **result, "all_identical": all(checks), "kept": all(checks), "int8_goal_bytes": GOAL}
    shipped = result["end_to_end"].get("off", {}).get("int8")
    if shipped:
        out["shipped_int8_bytes"] = shipped["bytes"]
        out["shipped_int8_under_goal_bytes"] = GOAL - shipped["bytes"]["stripped"]
    if args.export:
        from ecgsl_keras.serving import edge

        exported = (args.export / edge.tflite_name("int8")).read_bytes()
        stripped = (args.work / "end_to_end_off" / "int8_stripped.tflite").read_bytes()
        out["export_cli"] = {"command": "python -m ecgsl_keras.export --model cinc2017-edge --out DIR --end-to-end "
                                        "--tflite int8", "bytes": len(exported),
                             "same_bytes_as_stripped_off_int8": exported == stripped}
        out["kept"] = out["kept"] and exported == stripped
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

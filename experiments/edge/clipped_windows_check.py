"""``serving/edge.py``'s clipped-window gathers in one helper (``_clipped_windows``): a code-health change that must not
change what the graph computes. ``edge.py`` as of ``--before`` (a commit; ``git show``) and as in the working tree, each
in its own process (``--side``), at two points of the ``cinc2017-edge`` preset: its own signal config ("default") and
the ported options on (``p_wave_port.py``'s "on_post_wide_p_wave": the negative-QRS fallback, deep rescue, noise,
post-wide and P-wave checks). For each point and format (float32, int8): the end-to-end TFLite file's size, SHA-256 and
op counts (every subgraph), and every output of the file (LiteRT, one thread) on the fixture windows
(``gap_port_default_check``'s: the embedded CinC 2017 sample and 5 minutes of MIT-BIH 119 / 208 in 30 s windows at
100 Hz, each signal's first 15 s as a short, padded window, and ``gap_port``'s two synthetic windows); the eager peaks
(``EndToEnd.peaks``) of the same windows at ``gap_port_default_check``'s signal configs and at both points.

    python experiments/edge/clipped_windows_check.py --before a24870e --work WORK \\
        --out benchmarks/results/edge_clipped_windows_check.json

Prints one JSON object as the last line of stdout (logs to stderr) and writes it to ``--out``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gap_port_default_check import CONFIGS, _module, before_after, fixture_windows  # noqa: E402
from p_wave_port import MODEL, POINTS as P_WAVE_POINTS  # noqa: E402
from look_output import finish  # noqa: E402

POINTS = {"default": {}, "on_post_wide_p_wave": P_WAVE_POINTS["on_post_wide_p_wave"]}
FORMATS = ("float32", "int8")


def windows() -> list:
    """(name, float32 window) at 100 Hz: the fixture windows, each signal's first 15 s, the synthetic ones."""
    from gap_port import _negative_window

    from ecgsl_keras.data.signal import record_window_starts   # edge.window_starts, without importing either side

    out = []
    for s, x in enumerate(fixture_windows()):
        for start in record_window_starts(len(x), 3000):
            out.append((f"fixture{s}_{start}", x[start:start + 3000]))
        out.append((f"fixture{s}_short", x[:1500]))
    t = np.arange(3000) / 100.0
    spikes = np.exp(-((t % 0.9) - 0.3) ** 2 / 2e-4) + 0.05 * np.random.default_rng(0).standard_normal(3000)
    out.append(("spikes", spikes.astype(np.float32)))
    out.append(("negative_beats", _negative_window(3000, 100.0)))
    return out


def run_side(side: str, before: str, work: Path) -> None:
    """One side's files (``WORK/SIDE/POINT/FMT.tflite``), their outputs and eager peaks (``WORK/SIDE/*.npz``) and
    ``WORK/SIDE/files.json`` (written last: the side is done)."""
    import tensorflow as tf

    from ecgsl_keras.config import SignalConfig
    from ecgsl_keras.serving import tflite_file
    from ecgsl_keras.serving.export import load_classifier
    from ecgsl_keras.serving.inference import find_metadata
    from ecgsl_keras.store.runs import resolve_model_arg

    edge = _module(side, before, work)
    folder = work / side
    folder.mkdir(parents=True, exist_ok=True)
    named = windows()
    model_path = resolve_model_arg(MODEL)
    config, task, _ = find_metadata(model_path)
    configs = {point: dataclasses.replace(config, signal=dataclasses.replace(config.signal, **options))
               for point, options in POINTS.items()}
    signal_configs = {**{label: SignalConfig(**options) for label, options in CONFIGS.items()},
                      **{f"preset_{point}": c.signal for point, c in configs.items()}}
    peaks = {}
    for label, sc in signal_configs.items():
        graph = edge.EndToEnd(None, sc, 128, 3, edge.resolve_edge_config(edge.EdgeConfig(), sc, task.name))
        run = tf.function(graph.peaks, input_signature=[tf.TensorSpec((None,), tf.float32)])
        for name, x in named:
            pos, ok = run(tf.constant(x))
            peaks[f"{label}/{name}/pos"], peaks[f"{label}/{name}/ok"] = pos.numpy(), ok.numpy()
    np.savez(folder / "peaks.npz", **peaks)
    classifier = load_classifier(model_path)
    files, outputs = {}, {}
    for point, c in configs.items():
        graph = edge.build(classifier, c, edge.resolve_edge_config(edge.EdgeConfig(), c.signal, task.name))
        edge.write_saved_model(graph, folder / point / "saved_model")
        for fmt in FORMATS:
            flatbuffer = edge.convert_tflite(folder / point / "saved_model", fmt)
            path = folder / point / f"{fmt}.tflite"
            path.write_bytes(flatbuffer)
            described = tflite_file.describe(flatbuffer)     # operators of every subgraph (a WHILE body's count)
            files[f"{point}/{fmt}"] = {"bytes": len(flatbuffer), "sha256": hashlib.sha256(flatbuffer).hexdigest(),
                                       "ops": described["operators"], "tensors": described["tensors"],
                                       "constant_bytes": described["constant_bytes"]}
            runner = edge.Runner(path, num_threads=1)
            for name, x in named:
                for key, value in runner(x).items():
                    outputs[f"{point}/{fmt}/{name}/{key}"] = value
    np.savez(folder / "outputs.npz", **outputs)
    (folder / "files.json").write_text(json.dumps(files, indent=2))


def _same(a, b) -> bool:
    """Bit for bit (NaN and -0.0 included)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def main(argv=None) -> int:
    args = before_after(__file__, __doc__.splitlines()[0], argv, run_side,
                        lambda work, side: work / side / "files.json")
    if args is None:
        return 0
    files = {side: json.loads((args.work / side / "files.json").read_text()) for side in ("before", "after")}
    loaded = {side: (np.load(args.work / side / "peaks.npz"), np.load(args.work / side / "outputs.npz"))
              for side in ("before", "after")}
    (peaks_b, out_b), (peaks_a, out_a) = loaded["before"], loaded["after"]
    names = [name for name, _ in windows()]
    peaks = {}
    for label in sorted({key.split("/")[0] for key in peaks_b.files}):
        same = sum(int(all(_same(peaks_b[f"{label}/{name}/{part}"], peaks_a[f"{label}/{name}/{part}"])
                           for part in ("pos", "ok"))) for name in names)
        peaks[label] = {"windows": len(names), "identical": same}
    tflite = {}
    for key in files["before"]:
        before, after = files["before"][key], files["after"][key]
        prefix = key + "/"
        outputs = sorted({k[len(prefix):].rsplit("/", 1)[1] for k in out_b.files if k.startswith(prefix)})
        same = sum(int(all(_same(out_b[f"{prefix}{name}/{o}"], out_a[f"{prefix}{name}/{o}"]) for o in outputs))
                   for name in names)
        valid = sum(int(out_a[f"{prefix}{name}/valid"]) for name in names)
        ops = sorted(set(before["ops"]) | set(after["ops"]))
        tflite[key] = {"bytes": {"before": before["bytes"], "after": after["bytes"],
                                 "change": after["bytes"] - before["bytes"]},
                       "sha256": {"before": before["sha256"], "after": after["sha256"]},
                       "sha256_identical": before["sha256"] == after["sha256"],
                       "op_count_change": {op: after["ops"].get(op, 0) - before["ops"].get(op, 0) for op in ops
                                           if after["ops"].get(op, 0) != before["ops"].get(op, 0)},
                       "tensors": {side: files[side][key]["tensors"] for side in files},
                       "constant_bytes": {side: files[side][key]["constant_bytes"] for side in files},
                       "outputs": outputs, "windows": len(names), "windows_valid_after": valid,
                       "windows_all_outputs_identical": same}
    result = {"experiment": "edge_clipped_windows_check", "issue": 21, "model": MODEL, "before": args.before,
              "points": POINTS, "command": None,     # finish writes it
              "windows": {"count": len(names), "names": names}, "peaks": peaks, "tflite": tflite,
              "all_peaks_identical": all(v["windows"] == v["identical"] for v in peaks.values()),
              "all_outputs_identical": all(v["windows"] == v["windows_all_outputs_identical"] for v in tflite.values()),
              "default_sha256_identical": all(tflite[f"default/{fmt}"]["sha256_identical"] for fmt in FORMATS)}
    return finish(result, "experiments/edge/clipped_windows_check.py", args, argv)

if __name__ == "__main__":
    raise SystemExit(main())

"""Run s40 (issue 21): in-graph against Python R-peaks on CinC 2017 validation records with
``SignalConfig.rpeak_keep_first_beat`` off (neurokit2's start: a dummy peak at sample 0 that loses any beat in the first
0.3 s) and on, on both sides: ``EndToEnd.peaks`` (eager TensorFlow, 30 s windows at 100 Hz, the graph as exported for
cinc2017) against ``signal.find_rpeaks`` (the whole record at its 300 Hz), 50 ms, as experiments/edge/peaks_variants.py.

    python experiments/edge/first_beat_agreement.py --records 1365 > benchmarks/results/edge_first_beat_s40.json

Scored twice: on the beats the graph can classify (R at least ``r_offset`` after a window's start and ``beat_len -
r_offset`` before its end: the region of experiments/edge/bench.py and peaks_variants.py) and on every peak of each
window. Also the peaks each side puts in the first 0.3 s of a window. Records: every k-th of the validation split
(``prepare.assign_splits``, seed 42) so that about ``--records`` are used. Prints one JSON object as the last line.
"""
import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import signal as S
from ecgsl_keras.data.datasets import open_dataset
from ecgsl_keras.data.prepare import assign_splits
from ecgsl_keras.serving import edge

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from experiments.shared_data import CINC2017  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--records", type=int, default=1365)
parser.add_argument("--cinc", default=str(CINC2017))
args = parser.parse_args()
t0 = time.time()
base = SignalConfig()          # the cinc2017 presets' detector settings (rpeak_mindelay_keep "first")
variants = {"off": base, "keep_first_beat": dataclasses.replace(base, rpeak_keep_first_beat=True)}
run = {}
for name, config in variants.items():
    graph = edge.EndToEnd(None, config, 128, 3, edge.resolve_edge_config(edge.EdgeConfig(), config, "cinc2017"))
    run[name] = tf.function(graph.peaks, input_signature=[tf.TensorSpec((None,), tf.float32)])
reader = open_dataset("cinc2017", args.cinc)
splits = assign_splits(reader, "cinc2017", "default", 0.2, 42)   # TrainConfig defaults: the presets' split
ids = sorted(r for r, s in splits.items() if s == "validation")
step = max(1, len(ids) // args.records)
ids = ids[::step]
rate, window = float(base.target_fs), int(30 * base.target_fs)
early = int(round(0.3 * rate))
tol = int(round(0.05 * rate))
keys = ("classifiable", "whole_window")
tot = {v: {k: [0, 0, 0] for k in keys} for v in variants}
start_peaks = {v: {"python": 0, "graph": 0, "windows": 0, "records_python_first_0_3s": 0} for v in variants}
refused = {v: 0 for v in variants}
for rid in ids:
    rec = reader.load(rid)
    x = np.asarray(rec.lead(), np.float64)
    fs = rec.fs
    at = S.resample(x, fs, rate).astype(np.float32)
    for name, config in variants.items():
        try:
            py = np.rint(S.find_rpeaks(x, fs, config) * rate / fs).astype(np.int64)
        except Exception:      # a record the Python path refuses (too short, flat): not scored
            refused[name] += 1
            continue
        start_peaks[name]["records_python_first_0_3s"] += int(np.any(py < early))
        for begin in edge.window_starts(len(at), window):
            seg = at[begin:begin + window]
            pos, ok = run[name](tf.constant(seg))
            graph = pos.numpy()[ok.numpy()].astype(np.int64) + begin
            n = len(seg)
            regions = {"classifiable": (begin + base.r_offset, begin + n - (base.beat_len - base.r_offset)),
                       "whole_window": (begin, begin + n)}
            for key, (lo, hi) in regions.items():
                m = S.match_peaks(py[(py >= lo) & (py < hi)], graph[(graph >= lo) & (graph < hi)], tol)
                t = tot[name][key]
                t[0] += m["tp"]
                t[1] += m["fn"]
                t[2] += m["fp"]
            start_peaks[name]["windows"] += 1
            start_peaks[name]["python"] += int(np.sum((py >= begin) & (py < begin + early)))
            start_peaks[name]["graph"] += int(np.sum((graph >= begin) & (graph < begin + early)))
out = {"experiment": "edge_first_beat_s40", "records": len(ids),
       "split": f"validation (assign_splits seed 42), every {step}-th", "tolerance_ms": 50,
       "config": "SignalConfig() (the cinc2017 presets' detector), EdgeConfig resolved for cinc2017",
       "regions": {"classifiable": "R at least r_offset from a window's start and beat_len - r_offset from its end",
                   "whole_window": "every peak of each 30 s window"},
       "agreement": {v: {k: {"tp": t[0], "fn": t[1], "fp": t[2], "agreement_se": t[0] / max(t[0] + t[1], 1),
                             "agreement_ppv": t[0] / max(t[0] + t[2], 1),
                             "agreement": t[0] / max(t[0] + t[1] + t[2], 1)} for k, t in d.items()}
                     for v, d in tot.items()},
       "peaks_in_first_0_3s_of_windows": start_peaks, "refused_by_python": refused,
       "seconds": round(time.time() - t0, 1),
       "command": "python experiments/edge/first_beat_agreement.py " + " ".join(sys.argv[1:])}
print(json.dumps(out))

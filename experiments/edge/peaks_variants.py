"""What makes the in-graph peaks differ from the Python path's: ``EndToEnd.peaks`` (the graph's detection,
eager TensorFlow, 30 s windows at 100 Hz) against ``signal.find_rpeaks`` as shipped and in variants (no
search back; detecting at 100 Hz as the graph does; both), 50 ms, on the beats the graph can classify.

    python experiments/edge/peaks_variants.py --records 200 [--cinc path/to/training2017]

Records: every k-th of the CinC 2017 validation split (``prepare.assign_splits``, seed 42) so that about
``--records`` are used. Prints one JSON object as the last stdout line.
"""
import argparse
import dataclasses
import json

import numpy as np
import tensorflow as tf

from ecgsl_keras.serving import edge
from ecgsl_keras.data import signal as S
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data.datasets import open_dataset
from ecgsl_keras.data.prepare import assign_splits

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from experiments.shared_data import CINC2017  # noqa: E402
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--records", type=int, default=200)
parser.add_argument("--cinc", default=str(CINC2017))
args = parser.parse_args()
sc = SignalConfig()
# the graph as exported for cinc2017 (cleaning FIRs measured at the records' 300 Hz)
g = edge.EndToEnd(None, sc, 128, 3, edge.resolve_edge_config(edge.EdgeConfig(), sc, "cinc2017"))
fn = tf.function(lambda x: g.peaks(x), input_signature=[tf.TensorSpec((None,), tf.float32)])
reader = open_dataset("cinc2017", args.cinc)
splits = assign_splits(reader, "cinc2017", "default", 0.2, 42)   # TrainConfig defaults: the presets' split
ids = sorted(r for r, s in splits.items() if s == "validation")
step = max(1, len(ids) // args.records)
ids = ids[::step]
V = {"python": sc, "no_searchback": dataclasses.replace(sc, rpeak_searchback=0.0),
     "at_100hz": dataclasses.replace(sc, detect_at_native_rate=False),
     "at_100hz_no_searchback": dataclasses.replace(sc, detect_at_native_rate=False, rpeak_searchback=0.0)}
tot = {k: [0, 0, 0] for k in V}
for rid in ids:
    rec = reader.load(rid); x = np.asarray(rec.lead(), np.float64); fs = rec.fs
    at = S.resample(x, fs, 100.0).astype(np.float32)
    graph = []
    for start in edge.window_starts(len(at), 3000):
        seg = at[start:start + 3000]
        pos, ok = fn(tf.constant(seg)); graph.append((start, len(seg), pos.numpy()[ok.numpy()] + start))
    for name, cfg in V.items():
        try:
            py = np.rint(S.find_rpeaks(x, fs, cfg) * 100.0 / fs).astype(np.int64)
        except Exception:
            continue
        for start, n, pos in graph:
            a, b = start + 32, start + n - 64
            m = S.match_peaks(py[(py >= a) & (py < b)], pos[(pos >= a) & (pos < b)], 5)
            t = tot[name]; t[0] += m["tp"]; t[1] += m["fn"]; t[2] += m["fp"]
out = {"records": len(ids), "split": "validation (assign_splits seed 42), every %d-th" % step, "tolerance_ms": 50,
       "region": "beats the graph can classify (r_offset from the window start, beat_len - r_offset from its end)",
       "variants": {k: {"tp": v[0], "fn": v[1], "fp": v[2], "agreement_se": v[0] / (v[0] + v[1]), "agreement_ppv": v[0] / (v[0] + v[2])} for k, v in tot.items()}}
print(json.dumps(out))

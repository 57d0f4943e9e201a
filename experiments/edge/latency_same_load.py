"""Latency of several end-to-end TFLite files run in turn, call by call, so that they share whatever load the
machine has (a shared machine: absolute times move with the other jobs, ratios much less).

    python experiments/edge/latency_same_load.py --file before=OLD.tflite --file now=NEW.tflite \
        [--file input_rate_300=F300.tflite:300] [--idle before=2.63] [--repeats 300] [--alternate]

``NAME=PATH[:RATE]``: RATE, the file's input rate (default 100 Hz), sets the length of its 30 s window.
``--idle NAME=MS``: that file's CPU median measured on an idle machine; the others' idle times are then
estimated by their ratio to it. ``--alternate``: every other repeat runs the files in reverse order (the file
run first in a repeat can be a little slower or faster: the order then weighs on neither). Prints one JSON
object as the last stdout line.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def window(rate: float, seconds: float = 30.0) -> np.ndarray:
    """The synthetic ECG-like window of bench.py's latency step (1.1 Hz spikes on noise) at ``rate``."""
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    rng = np.random.default_rng(0)
    return (np.exp(-((t % 0.9) - 0.3) ** 2 / 2e-4) + 0.05 * rng.standard_normal(n)).astype(np.float32)


def main(argv=None) -> int:
    from ecgsl_keras.serving import edge

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--file", action="append", required=True, help="NAME=PATH[:RATE]")
    p.add_argument("--idle", action="append", default=[], help="NAME=MS")
    p.add_argument("--repeats", type=int, default=300)
    p.add_argument("--alternate", action="store_true", help="reverse the order of the files every other repeat")
    args = p.parse_args(argv)
    files = {}
    for spec in args.file:
        name, rest = spec.split("=", 1)
        path, _, rate = rest.partition(":")
        files[name] = (Path(path), float(rate or 100.0))
    runs = {name: (edge.Runner(path, num_threads=1), window(rate)) for name, (path, rate) in files.items()}
    for run, x in runs.values():
        assert int(run(x)["valid"]) == 1
        for _ in range(20):
            run(x)
    cpu = {name: [] for name in runs}
    order = list(runs.items())
    for repeat in range(args.repeats):
        for name, (run, x) in (order[::-1] if args.alternate and repeat % 2 else order):
            c0 = time.process_time()
            run(x)
            cpu[name].append((time.process_time() - c0) * 1e3)
    median = {name: float(np.median(v)) for name, v in cpu.items()}
    out = {"cpu_median_ms": median, "cpu_p95_ms": {name: float(np.percentile(v, 95)) for name, v in cpu.items()},
           "size_bytes": {name: path.stat().st_size for name, (path, _) in files.items()},
           "input_rate_hz": {name: rate for name, (_, rate) in files.items()},
           "repeats": args.repeats, "alternate": args.alternate, "threads": 1, "load_average_1min": os.getloadavg()[0],
           "cpus": os.cpu_count()}
    for spec in args.idle:
        base, ms = spec.split("=")
        out["idle_reference"] = {"file": base, "cpu_median_ms": float(ms)}
        out["idle_estimate_ms"] = {name: float(ms) * median[name] / median[base] for name in median}
        out.update({f"ratio_{name}_to_{base}": median[name] / median[base] for name in median if name != base})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

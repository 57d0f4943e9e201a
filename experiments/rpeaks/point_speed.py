"""CPU time of the named R-peak detector points (``ecgsl_keras.data.rpeak_points``) on the 22 MIT-BIH DS1 records,
against the ``default`` point (today's detector; issue 21's limit is 1.3x it).

Each point runs as it was measured (``RpeakPoint.find_rpeaks``: at the record's rate, or resampled to the point's
``detect_rate_hz`` and detected there, the resampling counted), the points interleaved in a rotating order record by
record, ``--repeats`` times, in one process; CPU time (``time.process_time``). The load of a shared machine only adds
time, so each record's least time over the repeats is summed too and the ratios are read on both. Single timings on
the 2-core machine carry a loop bias of 10-20%: time on a quiet machine and run it twice.

    python experiments/rpeaks/point_speed.py --data-dir /work/shared/data/mitdb --repeats 7 \\
        --out benchmarks/results/rpeaks_point_speed.json

Prints one JSON object (the last line of stdout); ``--out`` also writes it (``--key NAME``: under that key of the
file, other keys kept, so that two timings sit side by side).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from ecgsl_keras import tasks
from ecgsl_keras.data import rpeak_points
from ecgsl_keras.bench.rpeaks import read_mitdb
from ecgsl_keras.fileio import write_text_atomic

LIMIT = 1.3   # issue 21: within 1.3x today's detector
log = logging.getLogger("point_speed")


def cpu_seconds(signals, points, repeats) -> tuple[dict, dict]:
    """{point: mean CPU seconds per record}, {point: mean over the records of each record's least time}."""
    names = [p.name for p in points]
    times = {name: np.zeros((repeats, len(signals))) for name in names}
    for rep in range(repeats):
        for i, (x, fs) in enumerate(signals):
            shift = (i + rep) % len(points)
            for point in points[shift:] + points[:shift]:
                t0 = time.process_time()
                point.find_rpeaks(x, fs)
                times[point.name][rep, i] = time.process_time() - t0
        log.info("repeat %d of %d done", rep + 1, repeats)
    return ({k: float(v.mean()) for k, v in times.items()},
            {k: float(v.min(axis=0).mean()) for k, v in times.items()})


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="folder of the MIT-BIH records (NNN.hea/.dat/.atr)")
    parser.add_argument("--points", nargs="+", default=rpeak_points.names(), choices=rpeak_points.names(),
                        help="points to time; 'default' is always timed (the reference)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--key", help="with --out: write under this key of the file, keeping its other keys")
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir)
    if not (data_dir / "100.hea").is_file() and not any(data_dir.glob("1*.hea")):
        parser.error(f"--data-dir {data_dir}: no MIT-BIH records (NNN.hea) there")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    names = ["default"] + [n for n in args.points if n != "default"]
    points = [rpeak_points.get(n) for n in names]
    records = list(tasks.MITDB_DS1)
    signals = [read_mitdb(data_dir, r)[:2] for r in records]
    points[0].find_rpeaks(signals[0][0][:36000], signals[0][1])   # warm-up: imports and first calls out of the loop
    mean, least = cpu_seconds(signals, points, args.repeats)
    out = {"experiment": "rpeaks_point_speed",
           "command": " ".join(["python", "experiments/rpeaks/point_speed.py"] + list(sys.argv[1:] if argv is None
                                                                                      else argv)),
           "records": records, "repeats": args.repeats, "clock": "process_time", "limit": LIMIT,
           "points": {p.name: {"detect_rate_hz": p.detect_rate_hz} for p in points},
           "cpu_seconds_per_record": mean, "cpu_seconds_per_record_min": least,
           "ratio_to_default": {k: mean[k] / mean["default"] for k in names},
           "ratio_to_default_min": {k: least[k] / least["default"] for k in names},
           "within_limit_min": {k: "yes" if least[k] / least["default"] <= LIMIT else "no" for k in names}}
    if args.out:
        path = Path(args.out)
        if args.key:
            whole = json.loads(path.read_text()) if path.is_file() else {}
            whole[args.key] = out
            write_text_atomic(path, json.dumps(whole, indent=1) + "\n")
        else:
            write_text_atomic(path, json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

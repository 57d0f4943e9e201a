"""CPU time of run s35's learned candidate score (experiments/rpeaks/learned.py) against today's detector and run s33's
most chosen point on the 22 DS1 records (issue 21's limit: 1.3x today's ``signal.find_rpeaks``).

    python experiments/rpeaks/learned_speed.py --data-dir /work/shared/data/mitdb --cache-dir /work/runs/det35/learned \
        > benchmarks/results/rpeaks_loro_s35_speed.json

Per record (the record as recorded, the ``normal`` rhythm), interleaved in a rotating order, ``--repeats`` times, one
process, ``time.process_time``: ``today`` = ``find_rpeaks(x, fs, SignalConfig())``; ``s33_chosen`` = ``find_rpeaks``
at the s33 point; ``learned_<model>`` = the whole learned detector: cleaning, the unguarded detector, the s33 guard
(its kept peaks are a feature), the slope maxima, the features, the model's scores (fitted once on all 22 records'
cache beforehand, not timed) and the refractory rule.
"""
import argparse
import json
import sys
import time

import numpy as np

from ecgsl_keras import tasks
from ecgsl_keras.bench.rpeaks import read_mitdb
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G
from ecgsl_keras.data import signal as S

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import learned  # noqa: E402
from cluster import RHYTHMS  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    records = list(tasks.MITDB_DS1)
    X, y = [], []
    for rid in records:
        z = np.load(f"{args.cache_dir}/{rid}.npz")
        for rhythm in RHYTHMS:
            X.append(z[f"{rhythm}_x"])
            y.append(z[f"{rhythm}_y"])
    X, y = np.concatenate(X), np.concatenate(y)
    models = {kind: learned.make_model(kind).fit(X, y) for kind in ("logistic", "lightgbm")}
    config, constants = learned.s33_point()

    def run_learned(model):
        def detect(x, fs):
            at, features, _, _ = learned.candidates_and_features(x, fs, config, constants)
            score = model.predict_proba(features)[:, 1]
            accepted = score >= 0.5
            return learned.refractory(at[accepted], score[accepted], int(round(learned.MIN_RR_S * fs)))
        return detect

    shipped = G.GUARD

    def run_config(c, k):
        def detect(x, fs):
            G.GUARD = k
            try:
                return S.find_rpeaks(x, fs, c)
            finally:
                G.GUARD = shipped
        return detect

    detectors = {"today": run_config(SignalConfig(), shipped), "s33_chosen": run_config(config, constants),
                 **{f"learned_{kind}": run_learned(m) for kind, m in models.items()}}
    sigs = [read_mitdb(args.data_dir, r)[:2] for r in records]
    for detect in detectors.values():
        detect(sigs[0][0][:36000], sigs[0][1])
    names = list(detectors)
    t = {k: [] for k in names}
    for rep in range(args.repeats):
        for i, (x, fs) in enumerate(sigs):
            shift = (i + rep) % len(names)
            for name in names[shift:] + names[:shift]:
                t0 = time.process_time()
                detectors[name](x, fs)
                t[name].append(time.process_time() - t0)
    res = {k: float(np.mean(v)) for k, v in t.items()}
    print(json.dumps({"cpu_seconds_per_record": res, "ratio_to_today": {k: res[k] / res["today"] for k in names},
                      "limit": 1.3, "records": records, "repeats": args.repeats, "clock": "process_time",
                      "note": "the learned detectors' threshold fixed at 0.5 for timing (the cost does not depend on it)",
                      "command": "python experiments/rpeaks/learned_speed.py " + " ".join(sys.argv[1:])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

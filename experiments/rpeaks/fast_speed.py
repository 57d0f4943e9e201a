"""CPU time of signal.find_rpeaks on the 22 DS1 records before and after the speed-up of the option-only paths (issue
21's limit: run s33's point within 1.3x today's detector): today's default and run s33's most chosen point, each with
``--ref``'s ``ecgsl_keras/data/signal.py`` ("old", imported as its own module: experiments/rpeaks/fast_same_peaks.py)
and the working tree's ("new"); the four interleaved in a rotating order per record, ``--repeats`` times, one process,
``time.process_time`` (the procedure of experiments/rpeaks/pvc_run_speed.py, ``cluster.cpu_seconds_per_record``).
The ratios: ``s33_old / today_old`` (the committed rpeaks_loro_s33_speed.json's figure, measured again) and
``s33_new / today_new`` (the same peaks: experiments/rpeaks/fast_same_peaks.py). ``s33_stages_cpu_seconds_per_record``:
run s33's point's detector (``detect_rpeaks``) and guard (``guard_rpeaks``) timed apart, old and new.

    python experiments/rpeaks/fast_speed.py --data-dir /work/shared/data/mitdb --ref 6ac5be7 --repeats 5 > benchmarks/results/rpeaks_loro_s33_speed_fast.json
"""
import argparse
import dataclasses
import json
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from fast_same_peaks import configs, guard_home, reference_module  # noqa: E402

from ecgsl_keras import tasks  # noqa: E402
from ecgsl_keras.bench.rpeaks import read_mitdb  # noqa: E402
from ecgsl_keras.config import SignalConfig  # noqa: E402
from ecgsl_keras.data import signal as S  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--ref", default="main", help="git revision of the code before the speed-up (default: main; "
                        "first measured against 6ac5be7, the main it branched from)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--records", nargs="+", default=list(tasks.MITDB_DS1))
    args = parser.parse_args(argv)
    ref = subprocess.run(["git", "rev-parse", args.ref], check=True, capture_output=True, text=True).stdout.strip()
    old = reference_module(ref)
    points = configs()
    runs = {"today_old": (old, *points["today"]), "s33_old": (old, *points["s33_chosen"]),
            "today_new": (S, *points["today"]), "s33_new": (S, *points["s33_chosen"])}
    names = list(runs)
    sigs = [read_mitdb(args.data_dir, r)[:2] for r in args.records]
    for module in (old, S):     # imports and first-call costs out of the clock
        module.find_rpeaks(sigs[0][0][:36000], 360.0, SignalConfig())
    t = {k: [] for k in names}
    for rep in range(args.repeats):
        for i, (x, fs) in enumerate(sigs):
            shift = (i + rep) % len(names)
            for name in names[shift:] + names[:shift]:
                module, config, constants = runs[name]
                shipped = guard_home(module).GUARD
                guard_home(module).GUARD = constants
                t0 = time.process_time()
                module.find_rpeaks(x, fs, config)
                t[name].append(time.process_time() - t0)
                guard_home(module).GUARD = shipped
        print(f"repeat {rep + 1} of {args.repeats} done", file=sys.stderr)
    res = {k: float(np.sum(v) / args.repeats / len(sigs)) for k, v in t.items()}
    # where run s33's point gains: its detector (detect_rpeaks on the detection signal, "prominent_negative_last")
    # and its guard (guard_rpeaks on the refined detections), old and new interleaved, once per repeat
    config, constants = points["s33_chosen"]
    stages = {f"{stage}_{version}": [] for stage in ("detect", "guard") for version in ("old", "new")}
    for rep in range(args.repeats):
        for x, fs in sigs:
            cleaned, detect = S.clean(x, fs, config.clean_method), S.clean(x, fs, config.rpeak_clean_method)
            primary = S.find_rpeaks(x, fs, dataclasses.replace(
                config, rpeak_guard_amplitude=0.0, rpeak_searchback=0.0, rpeak_second_proposer=0.0,
                rpeak_guard_t_wave=0.0, rpeak_guard_noise=0.0, rpeak_guard_own_t=0.0), cleaned=cleaned)
            for version, module in (("old", old), ("new", S))[::1 if rep % 2 == 0 else -1]:
                guard_home(module).GUARD = constants
                t0 = time.process_time()
                module.detect_rpeaks(detect, fs, config.rpeak_method, cleaned=True, mindelay=config.rpeak_mindelay_s,
                                     mindelay_keep=config.rpeak_mindelay_keep)
                t1 = time.process_time()
                module.guard_rpeaks(primary, cleaned, detect, fs, config)
                t2 = time.process_time()
                stages[f"detect_{version}"].append(t1 - t0)
                stages[f"guard_{version}"].append(t2 - t1)
                guard_home(module).GUARD = points["today"][1]
    stages = {k: float(np.sum(v) / args.repeats / len(sigs)) for k, v in stages.items()}
    print(json.dumps({"cpu_seconds_per_record": res, "s33_stages_cpu_seconds_per_record": stages,
                      "ratio_s33_to_today": {"old": res["s33_old"] / res["today_old"],
                                             "new": res["s33_new"] / res["today_new"],
                                             "new_over_old_today": res["s33_new"] / res["today_old"]},
                      "speedup_s33": res["s33_old"] / res["s33_new"], "today_new_over_old": res["today_new"] / res["today_old"],
                      "limit": 1.3, "new_module": S.__file__, "reference": ref, "s33_chosen": json.loads(open(
                          "benchmarks/results/rpeaks_loro_s33.json").read())["most_chosen"],
                      "records": args.records, "repeats": args.repeats, "clock": "process_time",
                      "command": "python experiments/rpeaks/fast_speed.py " + " ".join(sys.argv[1:] if argv is None else argv)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

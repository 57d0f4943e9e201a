"""Same peaks before and after the speed-up of the option-only guard paths (issue 21, run s33's point): ``find_rpeaks``
of ``--ref``'s ``ecgsl_keras/data/signal.py`` (``git show``, imported as a separate module) and of the working tree, on
the 22 MIT-BIH DS1 records x the four built rhythms (``bench.rhythms.build`` with its defaults, seed = record number,
as experiments/rpeaks/cluster.py builds them), for today's default ``SignalConfig()``, run s32's chosen point and run
s33's most chosen point (``most_chosen`` of benchmarks/results/rpeaks_loro_s33.json, experiments/rpeaks/pvc_run.py
``points``). Every pair of peak arrays must be equal (same length, same samples).

    python experiments/rpeaks/fast_same_peaks.py --data-dir /work/shared/data/mitdb --ref 6ac5be7 > benchmarks/results/rpeaks_fast_same_peaks.json

``--old-cache FILE``: the reference's peaks saved there (npz) on the first run and read back after (it never changes for
a fixed ``--ref``). Prints one JSON object last (records, rhythms, configs, n_peaks, n_different, all_equal).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from cluster import RHYTHMS  # noqa: E402
from noise import S32  # noqa: E402
from pvc_run import points  # noqa: E402

from ecgsl_keras import tasks  # noqa: E402
from ecgsl_keras.bench import rhythms  # noqa: E402
from ecgsl_keras.bench.rpeaks import read_mitdb  # noqa: E402
from ecgsl_keras.config import SignalConfig  # noqa: E402
from ecgsl_keras.data import rpeak_guard as G  # noqa: E402
from ecgsl_keras.data import signal as S  # noqa: E402

log = logging.getLogger("experiments.rpeaks.fast_same_peaks")


def reference_module(ref: str):
    """``ref``'s ecgsl_keras/data/signal.py, imported as its own module (its own ``GUARD``). Only a ``ref`` from
    before the split of signal.py (one file: the detector and the guard inside it); after it signal.py would import the
    working tree's rpeaks / rpeak_guard, so the comparison would compare the working tree with itself."""
    text = subprocess.run(["git", "show", f"{ref}:ecgsl_keras/data/signal.py"], check=True, capture_output=True,
                          text=True).stdout
    if "from ecgsl_keras.data.rpeaks import" in text:
        raise SystemExit(f"error: {ref}'s ecgsl_keras/data/signal.py imports ecgsl_keras.data.rpeaks (after the split): "
                         "give a --ref from before it, or an --old-cache saved from one")
    path = Path(tempfile.mkdtemp()) / "signal_reference.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("signal_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module     # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def configs(results="benchmarks/results/rpeaks_loro_s33.json") -> dict:
    """{name: (SignalConfig, GuardConstants)}: today, run s32's chosen point, run s33's most chosen point."""
    chosen = json.loads(Path(results).read_text())["most_chosen"]
    grid = {name: (config, constants) for name, config, constants in points()}
    return {"today": (SignalConfig(), G.GUARD), "s32_chosen": grid[S32], "s33_chosen": grid[chosen]}


def guard_home(module):
    """The module whose ``GUARD`` the guard reads: ``module`` itself for a one-file signal.py (before the split into
    filters / rpeaks / rpeak_guard), ``ecgsl_keras.data.rpeak_guard`` after it (``signal.GUARD`` is a re-export there,
    and rebinding it would not reach the guard)."""
    return sys.modules[module.GuardConstants.__module__]


def run(module, x, fs, config, constants):
    home = guard_home(module)
    shipped = home.GUARD
    try:
        home.GUARD = constants
        return np.asarray(module.find_rpeaks(x, fs, config), np.int64)
    finally:
        home.GUARD = shipped


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--ref", default="main", help="git revision of the code before the speed-up (default: main; "
                        "first measured against 6ac5be7, the main it branched from)")
    parser.add_argument("--old-cache", help="npz of the reference's peaks (written when missing)")
    parser.add_argument("--records", nargs="+", default=list(tasks.MITDB_DS1))
    args = parser.parse_args(argv)
    ref = subprocess.run(["git", "rev-parse", args.ref], check=True, capture_output=True, text=True).stdout.strip()
    cache = Path(args.old_cache) if args.old_cache else None
    old_peaks = dict(np.load(cache)) if cache and cache.exists() else {}
    old = None
    points_ = configs()
    n_peaks = {name: 0 for name in points_}
    different = []
    for rid in args.records:
        signal, fs, ref_beats, episodes, _, symbols = read_mitdb(args.data_dir, rid, with_symbols=True)
        for rhythm in RHYTHMS:
            x = rhythms.build(rhythm, signal, fs, ref_beats, symbols, episodes, seed=int(rid),
                              t_end_s=rhythms.T_END_FIXED_S, join_edge_s=rhythms.JOIN_EDGE_NONE)["signal"]
            for name, (config, constants) in points_.items():
                key = f"{ref}|{rid}|{rhythm}|{name}"
                if key not in old_peaks:
                    old = old or reference_module(ref)
                    old_peaks[key] = run(old, x, fs, config, constants)
                new = run(S, x, fs, config, constants)
                n_peaks[name] += int(new.size)
                if not np.array_equal(new, old_peaks[key]):
                    different.append({"record": rid, "rhythm": rhythm, "config": name, "old": int(old_peaks[key].size),
                                      "new": int(new.size),
                                      "only_old": np.setdiff1d(old_peaks[key], new).tolist()[:20],
                                      "only_new": np.setdiff1d(new, old_peaks[key]).tolist()[:20]})
                    log.warning("%s %s %s differs: %s", rid, rhythm, name, different[-1])
        log.info("%s: %d differences so far", rid, len(different))
        if cache:
            np.savez(cache, **old_peaks)
    result = {"experiment": "rpeaks_fast_same_peaks", "reference": ref, "records": args.records,
              "rhythms": list(RHYTHMS), "configs": list(points_),
              "s33_chosen": json.loads(Path("benchmarks/results/rpeaks_loro_s33.json").read_text())["most_chosen"],
              "n_peaks": n_peaks, "n_signals": len(args.records) * len(RHYTHMS),
              "n_different": len(different), "new_module": S.__file__, "different": different, "all_equal": not different,
              "command": "python experiments/rpeaks/fast_same_peaks.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    print(json.dumps(result))
    return 0 if not different else 1


if __name__ == "__main__":
    sys.exit(main())

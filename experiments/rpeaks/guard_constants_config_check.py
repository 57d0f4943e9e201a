"""Issue 21: the guard's constants as a signal-config field (``SignalConfig.rpeak_guard_constants``,
``rpeak_guard.constants_for``) change nothing by default, and a point written through the config finds exactly the peaks
of the same point tried by rebinding ``rpeak_guard.GUARD`` (how experiments/rpeaks/*.py try constants).

Each side runs in its own process (``--side``) on its own tree: ``before`` (a copy of the commit before the change,
``--before-tree``, e.g. ``git archive 7f6e9f9 | tar -x -C DIR``) and ``after`` (this tree). On each record of
``--records`` (default: the 22 MIT-BIH DS1 records in ``--data-dir``, plus the repo's fixture records):

- ``default``: ``find_rpeaks`` with ``SignalConfig()``, both sides;
- ``s37_first`` and ``s51`` (run s37's point with ``rpeak_keep_first_beat``, and run s51's candidate default on it):
  ``before`` with ``rpeak_guard.GUARD`` rebound to run s37's ``GuardConstants``, ``after`` with those 16 overrides in
  ``rpeak_guard_constants`` and the shipped ``GUARD`` (and, as a check of the patch path, rebound too).

    python experiments/rpeaks/guard_constants_config_check.py --before-tree BASE --work WORK \\
        --out experiments/rpeaks/guard_constants_config_check.json

Prints one JSON object as the last line of stdout (logs to stderr) and writes it to ``--out``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
log = logging.getLogger("guard_constants_config_check")


def _points(first_beat, minimum_gap):
    """(name, SignalConfig without the overrides, GuardConstants, overrides dict) of run s37_first and run s51."""
    from ecgsl_keras.data import rpeak_guard as G

    config = dataclasses.replace(first_beat.S37_CONFIG, rpeak_keep_first_beat=True)
    constants = first_beat.S37_CONSTANTS
    overrides = {f.name: getattr(constants, f.name) for f in dataclasses.fields(constants)
                 if getattr(constants, f.name) != getattr(G.GUARD, f.name)}
    return [("s37_first", config, constants, overrides),
            ("s51", dataclasses.replace(config, **minimum_gap.S51_POINT), constants, overrides)]


def run_side(args) -> None:
    tree = Path(args.before_tree if args.side == "before" else REPO).resolve()
    sys.path[:0] = [str(tree), str(tree / "experiments" / "rpeaks")]
    import first_beat
    import minimum_gap

    from ecgsl_keras.bench.rpeaks import read_mitdb
    from ecgsl_keras.config import SignalConfig
    from ecgsl_keras.data import rpeak_guard as G
    from ecgsl_keras.data import signal as S

    assert Path(S.__file__).resolve().is_relative_to(tree), S.__file__
    points = _points(first_beat, minimum_gap)
    out = {}
    for folder, rid in args.pairs:
        signal, fs, *_ = read_mitdb(folder, rid)
        key = f"{'fixture' if Path(folder).resolve() == (tree / 'tests' / 'fixtures' / 'mitdb') else 'ds1'}_{rid}"
        out[f"{key}|default"] = S.find_rpeaks(signal, fs, SignalConfig())
        for name, config, constants, overrides in points:
            shipped = G.GUARD
            try:
                G.GUARD = constants
                out[f"{key}|{name}|patched"] = S.find_rpeaks(signal, fs, config)
            finally:
                G.GUARD = shipped
            if args.side == "after":
                through = dataclasses.replace(config, rpeak_guard_constants=overrides)
                out[f"{key}|{name}|config"] = S.find_rpeaks(signal, fs, through)
        log.info("%s %s: %d default peaks", args.side, key, out[f"{key}|default"].size)
    np.savez(Path(args.work) / f"peaks_{args.side}.npz", **{k.replace("|", "__"): v for k, v in out.items()})
    if args.side == "after":
        (Path(args.work) / "overrides.json").write_text(json.dumps(points[0][3], sort_keys=True))


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before-tree", required=True, type=Path)
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "mitdb")
    p.add_argument("--records", nargs="*")
    p.add_argument("--side", choices=("before", "after"))
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.side:
        from ecgsl_keras import tasks

        # the fixture records as each side's tree has them (the same files)
        fixture = (Path(args.before_tree) if args.side == "before" else REPO).resolve() / "tests" / "fixtures" / "mitdb"
        records = args.records or [r for r in tasks.MITDB_DS1 if (args.data_dir / f"{r}.hea").exists()]
        args.pairs = ([(str(args.data_dir), r) for r in records]
                      + [(str(fixture), h.stem) for h in sorted(fixture.glob("*.hea"))])
        run_side(args)
        return 0
    passed = ["--before-tree", str(args.before_tree), "--work", str(args.work), "--data-dir", str(args.data_dir)]
    passed += ["--records", *args.records] if args.records else []
    for side in ("before", "after"):
        if not (args.work / f"peaks_{side}.npz").is_file():
            tree = args.before_tree if side == "before" else REPO
            env = dict(os.environ, PYTHONPATH=str(Path(tree).resolve()))
            subprocess.run([sys.executable, __file__, *passed, "--side", side], check=True, env=env)
    before, after = np.load(args.work / "peaks_before.npz"), np.load(args.work / "peaks_after.npz")
    keys = sorted(k for k in before.files)
    records = sorted({k.split("__")[0] for k in keys})

    def same(a, ka, b, kb):
        return [r for r in records if not np.array_equal(a[f"{r}__{ka}"], b[f"{r}__{kb}"])]

    checks = {"default_before_vs_after": same(before, "default", after, "default")}
    for name in ("s37_first", "s51"):
        checks[f"{name}_patched_before_vs_config_after"] = same(before, f"{name}__patched", after, f"{name}__config")
        checks[f"{name}_patched_before_vs_patched_after"] = same(before, f"{name}__patched", after, f"{name}__patched")
    peaks = {name: int(sum(after[f"{r}__{name}"].size for r in records))
             for name in ("default", "s37_first__config", "s51__config")}
    result = {"experiment": "rpeaks_guard_constants_config_check", "issue": 21,
              "command": "python experiments/rpeaks/guard_constants_config_check.py "
                         + " ".join(argv if argv is not None else sys.argv[1:]),
              "records": records, "n_records": len(records),
              "overrides": json.loads((args.work / "overrides.json").read_text()),
              "differing_records": checks, "peaks_total": peaks,
              "all_identical": not any(checks.values())}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

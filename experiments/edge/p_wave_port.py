"""Issue 21: the guard's P-wave check (``SignalConfig.rpeak_guard_p_wave``, ``EndToEnd.p_wave_check``; without its gap
exception, which stays in the Python path) in the end-to-end graph, off by default. The ``cinc2017-edge`` preset
exported end to end at ``gap_port.py``'s richest point ("on_post_wide") and with the P-wave check added at run s58's
1.0 ("on_post_wide_p_wave", the step run s41-graphd1 ranked first on MIT-BIH D1's benchmark); each file against the
Python path with the same signal config (``gap_port.agreement_rows``).

    python experiments/edge/p_wave_port.py --work WORK [--cinc path/to/training2017] [--every 10] \\
        --out benchmarks/results/edge_p_wave_port.json

Steps (cached in ``--work``, resumable): ``export`` (float32 / int8 sizes, op sets read back with LiteRT: builtin
ops only or not); ``agreement``: the float32 file's peaks against ``signal.find_rpeaks`` at the same point on every
``--every``-th CinC 2017 validation record (a subset unless 1; 50 ms, the beats the file can classify), per record
length, and the peaks each side changes when the check goes on.

Keep rule, fixed before any figure of this run: the port stays (the graph accepts ``rpeak_guard_p_wave`` instead of
refusing it; the default stays 0) when both files convert with builtin ops only and, on the records compared, the
agreement at "on_post_wide_p_wave" is at most 0.001 below "on_post_wide", Se and +P (the rule of the earlier ports,
``gap_port.py``). The default export is checked apart (``gap_port_default_check.py``).

Prints one JSON object as the last line of stdout (logs to stderr) and writes it to ``--out``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from experiments.shared_data import CINC2017  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))
log = logging.getLogger("experiments.edge.p_wave_port")

from gap_port import MODEL, POINTS as GAP_POINTS, _records, agreement_by_length, agreement_rows, export, peak_change  # noqa: E402
from look_output import finish  # noqa: E402  (write --out, print the JSON: one helper)

POINTS = {"on_post_wide": GAP_POINTS["on_post_wide"],
          "on_post_wide_p_wave": {**GAP_POINTS["on_post_wide"], "rpeak_guard_p_wave": 1.0}}
RULE = ("the port stays (rpeak_guard_p_wave accepted by the graph, default 0) when both files convert with builtin ops "
        "only and the agreement at on_post_wide_p_wave is at most 0.001 below on_post_wide (Se and +P, the CinC "
        "validation records compared, 50 ms); the default export is checked apart (gap_port_default_check.py)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--cinc", default=str(CINC2017))
    p.add_argument("--every", type=int, default=10, help="every k-th validation record (1: all 1,365)")
    p.add_argument("--steps", nargs="+", default=["export", "agreement"])
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    result = {"experiment": "edge_p_wave_port", "issue": 21, "model": MODEL, "points": POINTS, "rule": RULE,
              "command": "python experiments/edge/p_wave_port.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    if "export" in args.steps:
        exported = export(args, args.work, POINTS)
        result["export"] = {point: {k: v for k, v in exported[point].items() if k != "fixture_agreement"}
                            for point in POINTS}
    if "agreement" in args.steps:
        reader, ids = _records(args.cinc, args.every)
        rows, geometry = agreement_rows(args.work, reader, ids, POINTS, POINTS, args.work / "agreement.jsonl",
                                        {point: (point, point) for point in POINTS})
        rate = geometry["on_post_wide"][0]
        a = {"records": len(rows), "every": args.every, "subset": args.every > 1, "tolerance_ms": 50,
             **{point: agreement_by_length(rows, point) for point in POINTS}}
        for side in ("graph", "python"):
            a[f"{side}_change_on_post_wide_p_wave_vs_on_post_wide"] = peak_change(rows, "on_post_wide",
                                                                                  "on_post_wide_p_wave", side, rate)
        result["agreement"] = a
    if "export" in result and "agreement" in result:
        a = result["agreement"]
        drop = {key: a["on_post_wide"]["all"][key] - a["on_post_wide_p_wave"]["all"][key]
                for key in ("sensitivity", "ppv")}
        builtin = all(result["export"][point]["builtin_only"] for point in POINTS)
        sizes = result["export"]
        result["decision"] = {
            "agreement_drop_p_wave_vs_on_post_wide": drop, "builtin_only": builtin,
            "port_stays": bool(builtin and max(drop.values()) <= 0.001),
            "size_added_bytes": {fmt: sizes["on_post_wide_p_wave"]["sizes_bytes"][f"tflite_{fmt}"]
                                 - sizes["on_post_wide"]["sizes_bytes"][f"tflite_{fmt}"] for fmt in ("float32", "int8")},
            "target_0_995_distance": {key: a["on_post_wide_p_wave"]["all"][key] - 0.995
                                      for key in ("sensitivity", "ppv")},
            "default": "unchanged (rpeak_guard_p_wave 0)"}
    return finish(result, "experiments/edge/p_wave_port.py", args, argv)


if __name__ == "__main__":
    raise SystemExit(main())

"""Session s39 (issue 18): run v55b's narrow V gate as a ``mitdb-beats`` ship candidate, checked from the committed
files: its served left-out figure recomputed (key ``v_narrow_gate_served_left_out`` of ``v_sensitivity_results.json``,
``NARROW_SHIP_RULE``) and the preset the rules-only build would ship compared file by file with the shipped one.

    python experiments/mitdb/v_gate.py --work WORK --candidate experiments/mitdb/oof/left_out_k2_median.npz --local \
        --out COPY_BP.json
    python experiments/mitdb/v_sensitivity.py --work WORK --steps narrow_gate_served --out COPY_VS.json
    python experiments/mitdb/v_sensitivity.py --work WORK --steps pause_served template_served --out COPY_VS2.json
    python experiments/mitdb/beats_preset.py --work WORK --from-committed experiments/mitdb/oof/left_out_k2_median.npz \
        --steps table build check --rules-only --recipe-from experiments/mitdb/oof/export_k2_median.json \
        --v-gate --v-pause --v-template --previous-check BEFORE.json --out COPY_BUILT.json --out-root BUILT_ROOT
    python experiments/mitdb/narrow_gate_ship.py --recomputed COPY_VS.json --recomputed-served COPY_VS2.json \
        --built BUILT_ROOT/mitdb-beats --built-results COPY_BUILT.json [--recomputed-at LABEL=OTHER_VS.json] \
        [--recomputed-served-at LABEL=OTHER_VS2.json]

(WORK: an empty folder; the first command builds the DS1 table and v_side's caches from the committed files, the
second the 96-sample beats; COPY_*: copies of the committed results JSONs, so that nothing committed is overwritten;
BEFORE.json: a copy of the committed ``beats_preset_results.json``.) No training; about 10 minutes on 2 CPU cores.
Run it before the build writes the package's preset: ``build.files`` compares BUILT_ROOT with the preset then shipped
(session s39: the s35 preset; the in-place build that followed wrote the same files but for the creation time).

Results: key ``narrow_gate_s39`` of ``ship_check_results.json`` beside this file (last line of stdout: one JSON
object). ``ship`` is the recomputed ``NARROW_SHIP_RULE`` verdict; the preset is changed only where it is true.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = HERE / "ship_check_results.json"
KEY = "narrow_gate_s39"
NARROW = "v_narrow_gate_served_left_out"
TEMPLATE = "v_template_served_left_out"
PAUSE = "v_pause_served_left_out"
METRICS = ("S_sensitivity", "S_positive_predictivity", "V_sensitivity", "V_positive_predictivity", "macro_f1_nsvf")
RUN_KEYS = ("seconds", "command")   # a step's own run: never compared
PRESET = REPO / "ecgsl_keras" / "presets" / "mitdb-beats"
FILES = ("model.keras", "booster.txt.gz", "config.json", "signal_config.json", "stacking.json", "metadata.json",
         "README.md")


def differences(a, b, path: str = "") -> list:
    """The paths at which two JSON values differ, ``RUN_KEYS`` left out at every level."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str) if k not in RUN_KEYS
                for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [path or "."]


def summary(key: dict, rows: str = "served_seed_spread") -> dict:
    """A served report's verdict and figures: the rows without the rule (``rows``), with it, the paired change, the
    guards' seed sds, the checks and the per-record change of 106 and 108."""
    out = {"ship": key["ship"], "checks": key["checks"],
           "without": {m: key[rows][m] for m in METRICS}, "with": {m: key["seed_spread"][m] for m in METRICS},
           "paired_change": {m: key["paired_change"][m] for m in METRICS},
           "reference_seed_sd": key.get("reference_seed_sd"), "reference_reproduced": key.get("reference_reproduced"),
           "distance_to_targets": key.get("distance_to_targets"),
           "served_distance_to_targets": key.get("served_distance_to_targets")}
    if "by_record_changed" in key:
        out["by_record_changed"] = {r: key["by_record_changed"][r] for r in ("106", "108")
                                    if r in key["by_record_changed"]}
    return out


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recomputed", required=True, help=f"a results JSON holding {NARROW} recomputed")
    p.add_argument("--recomputed-served", required=True, help=f"a results JSON holding {PAUSE} and {TEMPLATE} "
                   "recomputed on the same WORK")
    p.add_argument("--recomputed-at", action="append", default=[], metavar="LABEL=FILE",
                   help=f"{NARROW} recomputed otherwise (another commit's code, another cache), compared")
    p.add_argument("--recomputed-served-at", action="append", default=[], metavar="LABEL=FILE",
                   help=f"{TEMPLATE} recomputed otherwise (another commit's code, another cache), compared")
    p.add_argument("--built", required=True, help="the preset folder the rules-only build wrote")
    p.add_argument("--built-results", required=True, help="the results JSON of that build (keys build, build_check)")
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)

    def load(path):
        try:
            return json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"{path}: cannot read a results JSON ({exc})") from None

    committed = load(HERE / "v_sensitivity_results.json")
    recomputed, served = load(args.recomputed), load(args.recomputed_served)
    for path, data, keys in ((args.recomputed, recomputed, (NARROW,)), (args.recomputed_served, served,
                                                                        (PAUSE, TEMPLATE))):
        for k in keys:
            if k not in data:
                raise SystemExit(f"{path}: no {k!r}")
    at = {}
    for item in args.recomputed_at:
        commit, _, path = item.partition("=")
        other = load(path)[NARROW]
        at[commit] = {"equal_to_recomputed": not differences(other, recomputed[NARROW]), "file": path}
    served_at = {}
    for item in args.recomputed_served_at:
        commit, _, path = item.partition("=")
        served_at[commit] = {"equal_to_recomputed": not differences(load(path)[TEMPLATE], served[TEMPLATE]),
                             "file": path}
    built, results = Path(args.built), load(args.built_results)
    files = {f: {"shipped": sha(PRESET / f), "built": sha(built / f)} for f in FILES}
    for f in files.values():
        f["identical"] = f["shipped"] == f["built"]
    stacking = [d for d in differences(load(PRESET / "stacking.json"), load(built / "stacking.json"))]
    meta = differences(load(PRESET / "metadata.json"), load(built / "metadata.json"))
    check = results["build_check"]
    narrow_diff = differences(committed[NARROW], recomputed[NARROW])
    out = {
        "what": "run v55b's narrow V gate as a mitdb-beats ship candidate, from the committed files: its served "
                "left-out figure recomputed (NARROW_SHIP_RULE) and the rules-only build compared with the shipped "
                "preset; DS1, 2 outer folds of whole records, booster seeds 42-44",
        "narrow_gate_served": {"committed": summary(committed[NARROW]), "recomputed": summary(recomputed[NARROW]),
                               "reproduces_committed_key": not narrow_diff, "differing_paths": len(narrow_diff),
                               "recomputed_at_other_commits": at},
        "template_served": {"committed": summary(committed[TEMPLATE], "without_vote_seed_spread"),
                            "recomputed": summary(served[TEMPLATE], "without_vote_seed_spread"),
                            "reproduces_committed_key": not differences(committed[TEMPLATE], served[TEMPLATE]),
                            "left_out_firings_106": {
                                w: {s: d["true_V"] for s, d in k[TEMPLATE]["left_out_firings_by_record_and_seed"][
                                    "106"].items()} for w, k in (("committed", committed), ("recomputed", served))},
                            "recomputed_at_other_commits": served_at},
        "pause_served_reproduces_committed_key": not differences(committed[PAUSE], served[PAUSE]),
        "build": {"command": results.get("command"), "v_gate": results["build"].get("v_gate"),
                  "booster_from": results["build"].get("booster_from"), "files": files,
                  "identical_but_stacking_metadata_card": all(files[f]["identical"] for f in FILES
                                                              if f not in ("stacking.json", "metadata.json",
                                                                           "README.md")),
                  "stacking_json_differences": stacking, "metadata_differences": meta,
                  "ds1_check": {"v_gate": {k: (check.get("v_gate") or {}).get(k)
                                           for k in ("V_calls_taken", "predictions_changed")},
                                "macro_f1": check["macro_f1"],
                                "difference_to_the_shipped_preset": check.get("against_previous", {}).get("difference"),
                                "note": check.get("note")}},
    }
    ship = bool(recomputed[NARROW]["ship"])
    out["ship"] = ship
    out["decision"] = ("the recomputed ship test passes: the rules-only build ships the entry" if ship else
                       "the recomputed ship test fails (" + ", ".join(k for k, v in recomputed[NARROW]["checks"].items()
                                                                      if not v)
                       + "): mitdb-beats is not changed; the build above is what shipping would write")
    saved = load(args.out) if Path(args.out).is_file() else {}
    saved[KEY] = dict(out, command="python experiments/mitdb/narrow_gate_ship.py "
                      + " ".join(sys.argv[1:] if argv is None else argv))
    Path(args.out).write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(saved[KEY]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Session s39 audit (issue 18): does each committed key built from ``v_sensitivity.step_beats``'s cache reproduce
from the committed files with today's code (the beats' own 96 samples, after the s39 cache fix)?

    python experiments/mitdb/v_gate.py --work WORK --candidate experiments/mitdb/oof/left_out_k2_median.npz --local \\
        --out BP                                      # the fresh WORK (no retraining); BP a copy of beats_preset_results
    python experiments/mitdb/v_sensitivity.py --work WORK --out VS --steps STEP ...    # VS a copy of the committed JSON
    python experiments/mitdb/s_sensitivity.py --work WORK --out SS --steps s_lost s_nested s_pause_look
    python experiments/mitdb/v_sensitivity.py --work WORK --steps pause_build   # into beats_preset_results.json: copy
                                                      # it to PB, then git checkout the committed file
    python experiments/mitdb/audit_keys.py --work WORK \\
        --pair experiments/mitdb/v_sensitivity_results.json=VS experiments/mitdb/s_sensitivity_results.json=SS \\
               experiments/mitdb/beats_preset_results.json=BP=part experiments/mitdb/beats_preset_results.json=PB=part \\
        --skip KEY=WHY ...                            # key audit_s39 of experiments/mitdb/audit_s39_results.json

A key counts as recomputed when its recomputed copy's ``command`` names ``WORK``. It is compared with the committed
key field by field: ``seconds``, ``command``, ``timing_s`` and ``*_seconds`` (wall-clock times) ignored, numbers to
1e-9 (absolute or relative), lists element by element, a repository path written from another worktree
(``/work/wt-x/experiments/...``) the same path. Per key: ``reproduced`` (every committed field recomputed equal), the
first differing fields (path, committed, recomputed), whether a verdict field differs (``VERDICT_FIELDS``: a path with
one of those names in it), and the fields only the recomputed key has (written by newer code; no difference).
Last line of stdout: one JSON object (the audit without its per-key rows).

Key ``audit_s39_cache_192``: the same comparison (``--key``, ``--what``, ``--work`` the second WORK) of the steps rerun
on a 192-value cache with the pre-fix ``step_beats`` (a wrapper replacing ``v_sensitivity.step_beats`` by one that
returns the cache as read, as it was before commit 36eb27e): which committed keys depend on the cache at all.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = HERE / "audit_s39_results.json"
KEY = "audit_s39"
IGNORED = {"seconds", "command", "timing_s"}  # and any field whose name ends in "_seconds": wall-clock times
# names of fields that carry a decision: a differing one means the run's verdict or chosen point differs. Also any
# "chosen_*" field but the "chosen_by_inner_cv" block itself (its grid scores are not choices; its "chosen" and "uses"
# are), and nothing under a grid's "points" (a point's scores and admission: the choice is "chosen") nor "by_record"
VERDICT_FIELDS = ("kept", "ship", "chosen", "uses", "decision", "would_build", "best_taken", "rebuild", "kept_arms",
                  "v_gate_rechosen")
TOL = 1e-9
# a file path of the repository written by another worktree (/work/wt-x/experiments/...) is the same file
WORKTREE = re.compile(r"/work/[^/\s]+/(?=experiments/|ecgsl_keras/|benchmarks/)")
MAX_DIFFS = 8


def _same_number(a, b) -> bool:
    return math.isclose(a, b, rel_tol=TOL, abs_tol=TOL) or (math.isnan(a) and math.isnan(b))


def differences(committed, recomputed, path: str = "", out: list | None = None) -> list:
    """Every differing leaf as {path, committed, recomputed} (ignored fields skipped)."""
    out = [] if out is None else out
    is_num = (lambda x: isinstance(x, (int, float)) and not isinstance(x, bool))
    if isinstance(committed, dict) and isinstance(recomputed, dict):
        for k in list(committed) + [k for k in recomputed if k not in committed]:
            if k in IGNORED or str(k).endswith("_seconds"):
                continue
            sub = f"{path}.{k}" if path else str(k)
            if k not in committed or k not in recomputed:
                out.append({"path": sub, "committed": committed.get(k, "<absent>"),
                            "recomputed": recomputed.get(k, "<absent>")})
            else:
                differences(committed[k], recomputed[k], sub, out)
    elif isinstance(committed, list) and isinstance(recomputed, list) and len(committed) == len(recomputed):
        for i, (a, b) in enumerate(zip(committed, recomputed)):
            differences(a, b, f"{path}[{i}]", out)
    elif is_num(committed) and is_num(recomputed):
        if not _same_number(float(committed), float(recomputed)):
            out.append({"path": path, "committed": committed, "recomputed": recomputed})
    elif isinstance(committed, str) and isinstance(recomputed, str):
        if WORKTREE.sub("", committed) != WORKTREE.sub("", recomputed):
            out.append({"path": path, "committed": committed, "recomputed": recomputed})
    elif committed != recomputed:
        out.append({"path": path, "committed": committed, "recomputed": recomputed})
    return out


def _short(x):
    text = json.dumps(x)
    return x if len(text) <= 300 else text[:300] + "..."


def is_verdict(path: str) -> bool:
    parts = path.replace("[", ".").replace("]", "").split(".")
    if "points" in parts or "by_record" in parts:  # a grid point's or a record's figures, not a choice
        return False
    return any(p in VERDICT_FIELDS or (p.startswith("chosen_") and not p.endswith("by_inner_cv")) for p in parts)


def audit_key(committed: dict, recomputed: dict) -> dict:
    """``reproduced``: every committed field is recomputed equal; a field only the recomputed key has (written by
    code newer than the key) is listed apart (``fields_added_since``) and is no difference."""
    found = differences(committed, recomputed)
    added = [d["path"] for d in found if d["committed"] == "<absent>"]
    diffs = [d for d in found if d["committed"] != "<absent>"]
    verdict = [d for d in diffs if is_verdict(d["path"])]
    row = {"reproduced": not diffs, "n_differing_fields": len(diffs), "verdict_differs": bool(verdict)}
    if added:
        row["fields_added_since"] = {"n": len(added), "first": added[:MAX_DIFFS]}
    if diffs:
        row["first_differences"] = [{k: _short(v) for k, v in d.items()} for d in diffs[:MAX_DIFFS]]
    if verdict:
        row["verdict_differences"] = [{k: _short(v) for k, v in d.items()} for d in verdict[:MAX_DIFFS]]
    return row


def _pairs(items) -> dict:
    out = {}
    for item in items or []:
        key, _, why = item.partition("=")
        out[key] = why
    return out


def audit_file(committed: dict, recomputed: dict, work: str, skipped: dict, notes: dict, replaced: dict,
               only_recomputed: bool = False) -> dict:
    """Per key of ``committed``: its audit row, or why it was not recomputed (``only_recomputed``: keys of a file
    the audit touched only in part leave the others out)."""
    keys = {}
    for key, value in committed.items():
        new = recomputed.get(key, {})
        if key in skipped:
            keys[key] = {"recomputed": False, "why": skipped[key]}
        elif not (isinstance(new, dict) and work in str(new.get("command", ""))):
            if only_recomputed:
                continue
            keys[key] = {"recomputed": False, "why": "not rerun in this audit"}
        else:
            keys[key] = dict(audit_key(value, new), recomputed=True, recomputed_by=new["command"])
            if key in notes:
                keys[key]["cause"] = notes[key]
        if key in replaced:
            keys[key]["replaced_by_recomputed"] = replaced[key]
    return keys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pair", nargs="+", required=True, metavar="COMMITTED=RECOMPUTED[=part]",
                   help="a committed results JSON (relative to the repository root) and the audit's recomputed copy; "
                        "'=part': audit only the keys recomputed (a file the audit touched in part)")
    p.add_argument("--work", required=True, help="the audit's WORK (a recomputed key's command names it)")
    p.add_argument("--skip", nargs="*", help="KEY=WHY: keys not recomputed and why")
    p.add_argument("--replaced", nargs="*", help="KEY=WHY: committed keys replaced by the recomputed value")
    p.add_argument("--notes", nargs="*", default=[], help="KEY=NOTE: the cause found for a key that differs")
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--key", default=KEY, help="the key of --out written (default %(default)s)")
    p.add_argument("--what", help="replaces the audit's 'what' line (another comparison than the default one)")
    args = p.parse_args(argv)
    skipped, replaced, notes = _pairs(args.skip), _pairs(args.replaced), _pairs(args.notes)
    files = {}
    for pair in args.pair:
        rel, _, rest = pair.partition("=")
        recomputed_path, _, part = rest.partition("=")
        loaded = []
        for path in (REPO / rel, Path(recomputed_path)):
            if not path.is_file():
                p.error(f"{path}: no such file")
            try:
                loaded.append(json.loads(path.read_text(encoding="utf-8")))
            except json.JSONDecodeError as exc:
                p.error(f"{path}: not JSON ({exc})")
        found = audit_file(*loaded, args.work, skipped, notes, replaced, only_recomputed=part == "part")
        files.setdefault(rel, {}).update(found)  # one file may come in two pairs (keys recomputed by two commands)
    rows = [(rel, k, v) for rel, keys in files.items() for k, v in keys.items()]
    rerun = [(rel, k, v) for rel, k, v in rows if v.get("recomputed")]
    audit = {
        "what": "each key of the committed results JSON files built from v_sensitivity.step_beats's cache (and the "
                "WORK build's own key) recomputed from a fresh WORK built from the committed files with the s39 code "
                "(step_beats: the beats' own 96 samples), compared with the committed key; seconds / command / "
                "wall-clock times ignored, numbers to 1e-9, the worktree's folder in a path ignored",
        "work_built_by": "python experiments/mitdb/v_gate.py --work WORK --candidate "
                         "experiments/mitdb/oof/left_out_k2_median.npz --local --out SCRATCH",
        "compared_with": "the committed keys before this audit (keys replaced: see replaced)",
        "n_keys": len(rows),
        "n_recomputed": len(rerun),
        "n_reproduced": sum(bool(v["reproduced"]) for _, _, v in rerun),
        "n_not_recomputed": len(rows) - len(rerun),
        "not_reproduced": [k for _, k, v in rerun if not v["reproduced"]],
        "verdict_differs": [k for _, k, v in rerun if v["verdict_differs"]],
        "n_verdict_differs": sum(bool(v["verdict_differs"]) for _, _, v in rerun),
        "not_recomputed": {k: v["why"] for _, k, v in rows if not v.get("recomputed")},
        "by_file": {rel: {"n_keys": len(keys), "n_recomputed": sum(bool(v.get("recomputed")) for v in keys.values()),
                          "n_reproduced": sum(bool(v.get("reproduced")) for v in keys.values())}
                    for rel, keys in files.items()},
        "replaced": sorted(replaced),
        "files": files,
    }
    out_path = Path(args.out)
    saved = json.loads(out_path.read_text(encoding="utf-8")) if out_path.is_file() else {}
    if args.what:
        audit["what"] = args.what
    saved[args.key] = audit
    out_path.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in audit.items() if k != "files"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

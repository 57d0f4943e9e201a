"""The AF levers of issue 18 side by side: every paired CV figure the committed lever results hold (a report).

    python experiments/cinc2017/lever_ledger.py [--out experiments/cinc2017/lever_ledger_results.json]
        [--figure experiments/cinc2017/lever_ledger.png]

Runs no model and chooses nothing: it reads the committed ``af*_results.json`` files. Each AF lever (af27 on) was
judged on the training split's 5-fold CV (the 5,456 training records, the committed folds) against the shipped
recipe on the same booster seeds; the lever scripts store that comparison as a *paired* block: per booster seed, the
variant's CV AF F1 (and macro F1) minus the recipe's, with their mean and sd over the seeds. This script collects
every such block of a candidate variant (``rows``), marks the one a committed plan fixed as the lever's primary before
any figure (``primary``), and sets them against the one figure the levers were after: the shipped preset's distance to
the AF F1 target on the 1,364 validation records (``ship_results.json``) and that figure's bootstrap spread
(``validation_ci_results.json``).

What a row is: a dict whose ``af_f1`` holds ``mean`` and ``sd`` over 6 booster seeds (``differences`` of 6, or
``n`` = 6), found anywhere in a results JSON. Left out, because they compare no candidate with the recipe: blocks of 3
seeds (the halves of a 6-seed block), other seed counts (af29's 9-seed replicate of a row that is here), and blocks
under a key of ``NOT_CANDIDATES`` (controls, differences between two variants, af57's learning curve). Results files
that hold no row are listed with ``WITHOUT_ROWS``' reason (a diagnosis, a gate on MIT-BIH, choices on the validation
split); a new results file that is neither fails ``--check`` (and the test) until it is placed.

A row's title is its lever's heading in ``RESULTS.md``. ``kept``: the nearest ``kept`` flag above the row (plan-era
levers); ``None`` where the lever's JSON holds none (its RESULTS section says). The figure plots each row's mean
paired AF F1 gain with its sd over seeds, primaries dark, against the validation distance.

Prints one JSON object (last line of stdout) and writes it to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.cinc2017.validation_ci import OUT as VALIDATION_CI, SHIP_RESULTS  # noqa: E402

OUT = HERE / "lever_ledger_results.json"
FIGURE = HERE / "lever_ledger.png"
OOF_RESULTS = HERE / "oof_results.json"
SEEDS = 6   # booster seeds 42-47 (or a lever's own two sets of three): a row's count

# keys under which a paired block compares something other than a candidate with the shipped recipe
NOT_CANDIDATES = ("control", "tq_minus_plain", "pretrained_minus_extended", "warm_minus_extended",
                  "warm_minus_scratch", "relative_minus_plain", "curve", "extra_paired_all_seeds")
# results files without a paired CV row, and why
WITHOUT_ROWS = {
    "af33": "a diagnosis of the A <-> O errors (no candidate)",
    "af37": "a gate on MIT-BIH for a better QRST cancellation (no CinC CV row)",
    "af50": "decision offsets chosen on the validation split, cross-fitted there (its own table)",
    "af51": "the served blend's deep weight chosen on the validation split, cross-fitted there (its own table)",
    "af57": "the booster's learning curve and a validation cross-fit (no candidate on the CV)",
}
LEVER_FILE = re.compile(r"^af(\d+)_results\.json$")


class LedgerError(ValueError):
    """A committed results file the ledger cannot read (the message names it)."""


def lever_files(folder=HERE) -> dict:
    """``{"af27": Path, ...}``: the lever results files of ``folder`` in lever order."""
    found = {f"af{m.group(1)}": path for path in Path(folder).iterdir() if (m := LEVER_FILE.match(path.name))}
    return dict(sorted(found.items(), key=lambda item: int(item[0][2:])))


def headings(results_md=HERE / "RESULTS.md") -> dict:
    """``{"af39": "Several training seeds of ECG-SL on the deep side", ...}``: the ``###`` heading of RESULTS.md that
    names the lever in brackets, else the heading of the first section that cites its results file."""
    named, cited, current = {}, {}, ""
    for line in Path(results_md).read_text().splitlines():
        if line.startswith("### "):
            current = re.sub(r"\s*\([^()]*\baf\d+[^()]*\)", "", line[4:]).strip()
            for bracket in re.findall(r"\(([^()]*)\)", line):
                for name in re.findall(r"\baf\d+\b", bracket):
                    named.setdefault(name, current)
        for name in re.findall(r"\b(af\d+)_results\.json", line):
            cited.setdefault(name, current)
    return {**cited, **named}


def _count(block: dict):
    """The number of seeds of a paired metric block, or None when it is not one."""
    if not isinstance(block, dict) or "mean" not in block or "sd" not in block:
        return None
    if isinstance(block.get("differences"), list):
        return len(block["differences"])
    return block.get("n")


def _summary(block: dict) -> dict:
    """mean, sd, positive (seeds with a gain above 0) and n of a paired metric block."""
    n = _count(block)
    positive = block.get("positive")
    if positive is None and isinstance(block.get("differences"), list):
        positive = int(sum(d > 0 for d in block["differences"]))
    return {"mean": float(block["mean"]), "sd": float(block["sd"]), "positive": positive, "n": n}


def paired_rows(name: str, data: dict) -> list:
    """Every candidate row of one lever's results (see the module docstring), in file order."""
    rows = []

    def walk(node, path, kept, primary):
        if not isinstance(node, dict):
            return
        kept = node["kept"] if isinstance(node.get("kept"), bool) else kept
        primary = node["primary"] if isinstance(node.get("primary"), str) else primary
        af = node.get("af_f1")
        if _count(af) == SEEDS and not any(part in NOT_CANDIDATES for part in path):
            variant = next((part for part in reversed(path)
                            if not part.startswith("paired") and part not in ("cv", "forms", "rows", "against_base")),
                           path[-1])
            rows.append({"lever": name, "path": ".".join(path), "variant": variant,
                         "primary": primary is not None and primary in path, "kept": kept,
                         "af_f1": _summary(af),
                         "macro_f1": _summary(node["macro_f1"]) if _count(node.get("macro_f1")) else None})
            return
        # a block that pairs its variants with a reference arm of its own (af63's "hard") also pairs them with
        # the shipped recipe under "against_base": only those rows compare with the recipe
        items = ({"against_base": node["against_base"]} if isinstance(node.get("against_base"), dict)
                 else node).items()
        for key, value in items:
            if not (isinstance(value, dict) and key in ("seeds_42_44", "seeds_45_47")):
                walk(value, path + (key,), kept, primary)

    walk(data, (), None, None)
    return rows


def ledger(folder=HERE) -> dict:
    """The rows of every lever results file of ``folder``, the files without rows (and why), the files unplaced."""
    titles = headings(Path(folder) / "RESULTS.md")
    rows, without, unplaced = [], {}, []
    for name, path in lever_files(folder).items():
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise LedgerError(f"{path}: not a readable results JSON ({exc})") from None
        found = paired_rows(name, data)
        blocks = {row["path"].split(".")[0] for row in found}
        for row in found:
            row["title"] = titles.get(name, "")
            if len(blocks) > 1:    # two levers in one file (af40): say whose variant
                row["variant"] = f"{row['path'].split('.')[0]}.{row['variant']}"
        rows += found
        if not found:
            if name in WITHOUT_ROWS:
                without[name] = WITHOUT_ROWS[name]
            else:
                unplaced.append(str(path))
    return {"rows": rows, "without_rows": without, "unplaced": unplaced}


def target() -> dict:
    """The AF F1 the levers were after: the shipped preset on the validation records (``ship_results.json``), its
    bootstrap sd (``validation_ci.py``'s results), the target, and the shipped recipe's CV AF F1 (booster seeds 42-44,
    the regenerated inputs every lever reads)."""
    ship = json.loads(SHIP_RESULTS.read_text())
    ci = json.loads(VALIDATION_CI.read_text())
    cv = json.loads(OOF_RESULTS.read_text())["check_c_base"]["base"]["af_f1"]["regenerated"]
    served = float(ship["shipped"]["per_class_f1"]["A"])
    goal = float(ship["targets"]["af_f1"])
    return {"validation_af_f1": served, "target": goal, "distance": served - goal,
            "validation_bootstrap_sd": float(ci["shipped"]["per_class_f1"]["A"]["sd"]),
            "validation_records": ship["shipped"]["records"],
            "records_to_target": ci["af_records_to_target"]["records"],
            "cv_af_f1": {"mean": float(cv["mean"]), "sd": float(cv["sd"])}}


def summarise(rows: list, goal: dict) -> dict:
    """How the rows' mean AF F1 gains lie against zero, their seed spread and the validation distance."""
    def block(chosen):
        gains = np.array([r["af_f1"]["mean"] for r in chosen])
        sds = np.array([r["af_f1"]["sd"] for r in chosen])
        best = max(chosen, key=lambda r: r["af_f1"]["mean"])
        return {"rows": len(chosen), "levers": len({r["lever"] for r in chosen}),
                "mean_gain": float(gains.mean()), "sd_of_gains": float(gains.std(ddof=1)),
                "median_seed_sd": float(np.median(sds)),
                "positive": int((gains > 0).sum()), "above_own_sd": int((gains > sds).sum()),
                "largest": {"lever": best["lever"], "variant": best["variant"], "af_f1": best["af_f1"]},
                "reaching_distance": int((gains >= -goal["distance"]).sum())}
    primaries = [r for r in rows if r["primary"]]
    return {"all": block(rows), "primaries": block(primaries) if primaries else None}


def plot(rows: list, goal: dict, path: Path) -> None:
    """A forest plot: each row's mean paired CV AF F1 gain +- its sd over booster seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 0.16 * len(rows) + 1.6))
    y = np.arange(len(rows))[::-1]
    for yi, row in zip(y, rows):
        colour = "black" if row["primary"] else "0.6"
        ax.errorbar(row["af_f1"]["mean"], yi, xerr=row["af_f1"]["sd"], fmt="o", ms=3, color=colour, lw=1)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.axvline(-goal["distance"], color="tab:red", ls="--", lw=1,
               label=f"validation AF F1 shortfall ({-goal['distance']:.3f})")
    ax.set_ylim(-0.8, len(rows) - 0.2)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r['lever']} {r['variant']}" for r in rows], fontsize=5.5)
    ax.set_xlabel("CV AF F1, variant minus shipped recipe (mean +- sd over 6 booster seeds)")
    ax.set_title("AF levers on the 5,456 training records (5-fold CV); black: a plan's primary", fontsize=8)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--figure", type=Path, default=FIGURE)
    parser.add_argument("--check", action="store_true",
                        help="stop with an error when a lever results file is neither read nor placed")
    args = parser.parse_args(argv)
    found = ledger()
    if found["unplaced"]:
        message = f"lever results with no paired CV row and no reason in WITHOUT_ROWS: {found['unplaced']}"
        if args.check:
            parser.exit(2, f"lever_ledger: {message}\n")
        print(message, file=sys.stderr)
    goal = target()
    command = " ".join(["python experiments/cinc2017/lever_ledger.py", *(argv or sys.argv[1:])])
    result = {"issue": 18, "command": command,
              "records": "5-fold CV on the 5,456 training records (the committed folds), paired per booster seed "
                         "with the shipped recipe; the target row on the 1,364 validation records",
              "target": goal, "summary": {**summarise(found["rows"], goal),
                                          "files_without_rows": ", ".join(found["without_rows"])},
              **found}
    plot(found["rows"], goal, args.figure)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()

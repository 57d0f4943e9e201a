"""Issue 18: the label-audit packet for a reader of ECGs, the one AF lever the CV levers leave (af33, af36).

af33 found training records whose reference label every member of the shipped recipe contradicts (``unanimous_errors``
of ``af33_results.json``: AF records all three call Other, Other records all three call AF); confident-learning flags
(af36) and every model lever since left them where they are. Whether their labels are right is a question for a reader
of ECGs, not for a model. This writes what such a reader needs, one page per record, and a sheet for the verdicts; it
decides nothing and changes no label.

    python experiments/cinc2017/label_audit.py --work WORK [--records A00100 ...]

Per record ``WORK/<record>.png``: the lead (the package's reader, as recorded) with the R-peaks the package finds
(``atrial_waves.cleaned_and_peaks``: ``record_features``' cleaning and detector), a 10 s strip at full scale, the RR
tachogram and the Lorenz plot (RR(i), RR(i+1)); the title gives the record's split, the reference label and the
probabilities of AF and Other of ECG-SL and the ResNet (the committed table, ``oof/deep_oof.npz``: out of fold for a
training record, the fold members' mean as served for a validation record). ``WORK/verdicts.csv``: record, split,
group, reference label, the members' call, and empty ``reader_label`` (N, A, O, ~ or blank) and ``reader_notes``
columns. ``WORK/index.md`` lists the pages; ``WORK/lorenz.png`` has every record's Lorenz plot on one page. A record
that cannot be read, or whose beats the detector cannot find, is listed in ``index.md`` with the reason and the other
pages are still written. Last stdout line one JSON object.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.cinc2017.oof_table import DEFAULT_NPZ, cinc_dir_argument, load_deep_oof  # noqa: E402

LABELS = ("N", "A", "O", "~")
STRIP_S = 10.0
COLUMNS = ("record", "split", "group", "reference_label", "members_call", "ecgsl_p_A", "ecgsl_p_O", "resnet_p_A",
           "resnet_p_O", "reader_label", "reader_notes")


def unanimous_errors(path=HERE / "af33_results.json") -> dict:
    """{record: group} of af33's unanimous A <-> O errors (``A_as_O``, ``O_as_A``)."""
    groups = json.loads(Path(path).read_text())["af_errors"]["unanimous_errors"]
    return {r: g for g, entry in groups.items() for r in entry["records"]}


def member_probabilities(deep_oof) -> dict:
    """{record: {"ecgsl": (4,), "resnet": (4,), "label": str, "split": str}} of the committed table: a training
    record's out-of-fold probabilities, a validation record's the fold members' mean (as served)."""
    table = load_deep_oof(deep_oof)
    out = {}
    for family in ("ecgsl", "resnet"):
        t = table[family]
        for split in ("train", "validation"):
            for rid, y, p in zip(t[f"{split}_record_id"], t[f"{split}_targets"], t[f"{split}_probabilities"]):
                out.setdefault(str(rid), {"label": LABELS[int(y)], "split": split})[family] = np.asarray(p, float)
    return out


def page(signal, fs, peaks, title):
    """The figure of one record: the whole lead with its R-peaks, a strip, the RR tachogram and the Lorenz plot."""
    from ecgsl_keras.evaluation.plot import _pyplot

    plt = _pyplot()
    t = np.arange(signal.size) / fs
    rr = np.diff(peaks) / fs
    fig = plt.figure(figsize=(14, 8), dpi=100)
    grid = fig.add_gridspec(3, 2, height_ratios=[1.2, 1.2, 1.4], hspace=0.45, wspace=0.2)
    whole = fig.add_subplot(grid[0, :])
    whole.plot(t, signal, color="black", lw=0.5)
    whole.plot(peaks / fs, signal[peaks], "v", color="tab:blue", ms=3)
    whole.set_xlim(0, t[-1])
    whole.set_title(title, fontsize=10)
    whole.set_xlabel("time (s)")
    strip = fig.add_subplot(grid[1, :])
    stop = min(signal.size, int(STRIP_S * fs))
    strip.plot(t[:stop], signal[:stop], color="black", lw=0.8)
    inside = peaks[peaks < stop]
    strip.plot(inside / fs, signal[inside], "v", color="tab:blue", ms=4)
    strip.set_xlim(0, t[stop - 1])
    strip.grid(True, which="both", color="tab:red", alpha=0.15)
    strip.set_xticks(np.arange(0, t[stop - 1], 0.2), minor=True)
    strip.set_xlabel(f"the first {STRIP_S:g} s (grid 0.2 s)")
    tach = fig.add_subplot(grid[2, 0])
    tach.plot(peaks[1:] / fs, rr, ".-", color="tab:green", ms=4, lw=0.8)
    tach.set_xlabel("time (s)")
    tach.set_ylabel("RR (s)")
    tach.set_title("RR tachogram", fontsize=9)
    lorenz = fig.add_subplot(grid[2, 1])
    if rr.size > 1:
        lorenz.plot(rr[:-1], rr[1:], ".", color="tab:purple", ms=5)
        top = float(rr.max()) * 1.05
        lorenz.plot([0, top], [0, top], color="0.6", lw=0.6)
        lorenz.set_xlim(0, top)
        lorenz.set_ylim(0, top)
    lorenz.set_xlabel("RR(i) (s)")
    lorenz.set_ylabel("RR(i+1) (s)")
    lorenz.set_title("Lorenz plot", fontsize=9)
    return fig


def lorenz_grid(plots: list, columns: int = 7):
    """One small Lorenz plot per record (``plots``: [(record, group, rr)]), the packet's overview page."""
    from ecgsl_keras.evaluation.plot import _pyplot

    plt = _pyplot()
    rows = max(1, -(-len(plots) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3 * rows), dpi=70, squeeze=False)
    groups = sorted({g for _, g, _ in plots})
    colours = dict(zip(groups, ("tab:red", "tab:blue", "tab:green", "tab:purple")))
    for ax, (rid, group, rr) in zip(axes.flat, plots):
        if rr.size > 1:
            top = float(rr.max()) * 1.05
            ax.plot(rr[:-1], rr[1:], ".", ms=4, color=colours.get(group, "black"))
            ax.plot([0, top], [0, top], color="0.7", lw=0.5)
            ax.set_xlim(0, top)
            ax.set_ylim(0, top)
        ax.set_title(f"{rid} {group}", fontsize=9)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(plots):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def audit_packet(records: dict, work, cinc_dir, probabilities: dict) -> dict:
    """Pages, ``verdicts.csv`` and ``index.md`` for ``records`` ({record: group}) into ``work``."""
    from ecgsl_keras.data import readers
    from ecgsl_keras.errors import ECGSLError
    from ecgsl_keras.evaluation.plot import save

    from experiments.cinc2017.atrial_waves import cleaned_and_peaks

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    rows, problems, plots = [], {}, []
    index = ["# Label-audit packet (issue 18)", "", "One page per record; write each verdict into verdicts.csv. "
             "[lorenz.png](lorenz.png): every record's Lorenz plot on one page.", ""]
    for rid, group in records.items():
        member = probabilities.get(rid)
        if member is None:
            problems[rid] = "not a record of the committed out-of-fold table"
            index.append(f"- {rid} ({group}): skipped: {problems[rid]}")
            continue
        try:
            signal, fs, _ = readers.read_lead(Path(cinc_dir) / rid)
        except (ECGSLError, OSError, ValueError) as exc:
            problems[rid] = f"unreadable: {exc}"
            index.append(f"- {rid} ({group}): skipped: {problems[rid]}")
            continue
        signal = np.asarray(signal, np.float64)
        got = cleaned_and_peaks(signal, fs)          # the R-peaks record_features has
        if got is None:
            problems[rid] = "the detector fails or finds too few beats"
            index.append(f"- {rid} ({group}): skipped: {problems[rid]}")
            continue
        peaks = got[1]
        e, r = member["ecgsl"], member["resnet"]
        call = LABELS[int(np.argmax(e + r))]
        title = (f"{rid} ({member['split']})  reference {member['label']}  ({group})   "
                 f"ECG-SL p(A) {e[1]:.2f} p(O) {e[2]:.2f}   "
                 f"ResNet p(A) {r[1]:.2f} p(O) {r[2]:.2f}   {signal.size / fs:.1f} s, {peaks.size} beats")
        save(page(signal, fs, peaks, title), work / f"{rid}.png")
        plots.append((rid, group, np.diff(peaks) / fs))
        rows.append({"record": rid, "split": member["split"], "group": group, "reference_label": member["label"],
                     "members_call": call,
                     "ecgsl_p_A": f"{e[1]:.3f}", "ecgsl_p_O": f"{e[2]:.3f}", "resnet_p_A": f"{r[1]:.3f}",
                     "resnet_p_O": f"{r[2]:.3f}", "reader_label": "", "reader_notes": ""})
        index.append(f"- [{rid}]({rid}.png) ({group}): reference {member['label']}, the deep members call {call}")
    with (work / "verdicts.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (work / "index.md").write_text("\n".join(index) + "\n")
    if plots:
        save(lorenz_grid(plots), work / "lorenz.png")
    return {"pages": len(rows), "skipped": problems, "work": str(work)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True)
    parser.add_argument("--records", nargs="+", help="these records, training or validation (default: af33's "
                        "unanimous errors)")
    parser.add_argument("--deep-oof", default=str(DEFAULT_NPZ))
    cinc_dir_argument(parser)
    args = parser.parse_args(argv)
    records = {r: "given" for r in args.records} if args.records else unanimous_errors()
    result = audit_packet(records, args.work, args.cinc_dir, member_probabilities(args.deep_oof))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where do ECG-SL and the raw-signal ResNet look? Saliency shares per ECG wave on CinC 2017 validation records.

    python experiments/saliency/run.py --cinc-dir /work/shared/data/cinc2017/training2017 \\
        --data /work/runs/protocol/data --ecgsl /work/runs/protocol/ecgsl_s42 \\
        --resnet /work/runs/protocol/resnet_raw_s42 --work /work/runs/issue10/saliency \\
        [--per-class 100] [--methods vanilla integrated]

For each record: ``ecgsl_keras.evaluation.explain.saliency`` of both models (the predicted class's probability),
on the raw sample axis; the lead cleaned as in training (``signal.clean``) and delineated with
``neurokit2.ecg_delineate(method="dwt")`` at the R-peaks of the training preprocessing
(``explain.wave_regions``); the share of the absolute saliency in the P wave, QRS, ST-T and
elsewhere (``explain.region_shares``; QRS bounds
that dwt misses are R -/+ 50 ms, and the share of beats with each wave delineated is reported), and the share of time each region takes (the share a
saliency spread evenly over time would get). Also ECG-SL's record attention (``inference``'s
combination of windows) and its entropy against log(n beats), the uniform attention's.

Records: the validation split of ``--data`` (the 1,365 records of the CinC protocol, stratified
80/20, seed 42), classes N, A, O (noisy ``~`` records are left out), the first ``--per-class`` of each
class by record id, taken in turn N, A, O so that a partial run stays balanced. Nothing here
was chosen on these records: both models are used as trained, and the records are the ones the
checkpoints were selected on (validation) -- the shares are descriptive, not a test-set figure.

Resumable: one JSON line per record in ``WORK/records.jsonl``; records already there are skipped.
``report`` (always at the end, or ``--report-only``) writes ``results.json`` and ``RESULTS.md``
beside this file. The last line of stdout is one JSON object (the summary).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
log = logging.getLogger("experiments.saliency")

CLASSES = ("N", "A", "O")


def validation_records(data) -> list:
    """(record_id, label name) of the validation split of a prepared CinC folder, sorted by id."""
    from tfrecords_tools import label_info, load_manifest, read_examples

    names = label_info(load_manifest(str(data)))["label_names"]
    out = {}
    for ex in read_examples(str(data), "validation"):
        out[ex.record_id] = names[int(np.asarray(ex.label).reshape(-1)[0])]
    return sorted(out.items())


def choose(records, per_class: int) -> list:
    by_class = {c: [r for r, label in records if label == c][:per_class] for c in CLASSES}
    order = []
    for i in range(per_class):
        order += [(by_class[c][i], c) for c in CLASSES if i < len(by_class[c])]
    return order


def analyse(record_id, label, args, models) -> dict:
    from ecgsl_keras.evaluation import explain
    from ecgsl_keras.data.readers import read_lead
    from ecgsl_keras.data.signal import clean

    path = str(Path(args.cinc_dir) / record_id)
    signal, fs, _ = read_lead(path)
    out = {"record": record_id, "label": label, "fs": fs, "seconds": round(signal.size / fs, 2)}
    regions = None
    for name, model in models.items():
        for method in args.methods:
            result = explain.saliency(model, signal, fs, method=method, path=path)
            if regions is None:
                cleaned = clean(signal, fs, model.config.signal.clean_method)
                regions, out["delineated"] = explain.wave_regions(cleaned, fs, result.rpeaks)
                out["time_shares"] = {r: float(np.mean(regions == i)) for i, r in zip((1, 2, 3, 0), explain.REGIONS)}
                out["n_beats"] = int(result.rpeaks.size)
            out[f"{name}/{method}"] = explain.region_shares(result.saliency, regions)
            out[f"{name}/predicted"] = result.label
            if result.attention is not None:
                out[f"{name}/attention_entropy"] = explain.attention_entropy(result.attention)
                out[f"{name}/uniform_entropy"] = float(np.log(result.attention.size))
                out[f"{name}/attention_max"] = float(np.max(result.attention))
    return out


def _stats(values) -> dict:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], np.float64)
    return {"mean": float(v.mean()) if v.size else None, "sd": float(v.std(ddof=1)) if v.size > 1 else None,
            "n": int(v.size)}


def report(work, args) -> dict:
    from ecgsl_keras.evaluation.explain import REGIONS

    rows = [json.loads(line) for line in (Path(work) / "records.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "error" not in r]
    keys = ["time_shares"] + [f"{m}/{meth}" for m in ("ecgsl", "resnet") for meth in args.methods]
    table = {}
    for cls in CLASSES + ("all",):
        sel = [r for r in rows if cls == "all" or r["label"] == cls]
        entry = {"records": len(sel)}
        for key in keys:
            entry[key] = {region: _stats([r[key][region] for r in sel if key in r]) for region in REGIONS}
        for m in ("ecgsl",):
            entry[f"{m}/attention_entropy"] = _stats([r.get(f"{m}/attention_entropy") for r in sel])
            entry[f"{m}/uniform_entropy"] = _stats([r.get(f"{m}/uniform_entropy") for r in sel])
            entry[f"{m}/entropy_ratio"] = _stats([r[f"{m}/attention_entropy"] / r[f"{m}/uniform_entropy"]
                                                  for r in sel if f"{m}/attention_entropy" in r])
            entry[f"{m}/attention_max_x_n"] = _stats([r[f"{m}/attention_max"] * r["n_beats"]
                                                     for r in sel if f"{m}/attention_max" in r])
        entry["delineated"] = {w: _stats([r["delineated"][w] for r in sel if "delineated" in r])
                               for w in ("p_wave", "qrs", "st_t")}
        for m in ("ecgsl", "resnet"):
            entry[f"{m}/accuracy"] = _stats([float(r.get(f"{m}/predicted") == r["label"]) for r in sel])
        table[cls] = entry
    paired = {}
    for method in args.methods:
        a, b = f"ecgsl/{method}", f"resnet/{method}"
        both = [r for r in rows if a in r and b in r]
        for region in REGIONS:
            diff = np.array([r[a][region] - r[b][region] for r in both])
            diff = diff[np.isfinite(diff)]
            from scipy.stats import wilcoxon

            p = float(wilcoxon(diff).pvalue) if diff.size > 10 and np.any(diff) else None
            paired[f"{method}/{region}"] = {"mean_diff": float(diff.mean()) if diff.size else None,
                                            "sd_diff": float(diff.std(ddof=1)) if diff.size > 1 else None,
                                            "ecgsl_higher": int((diff > 0).sum()), "n": int(diff.size),
                                            "wilcoxon_p": p}
    errors = [json.loads(line) for line in (Path(work) / "records.jsonl").read_text().splitlines()
              if line.strip() and "error" in json.loads(line)]
    result = {"records": len(rows), "skipped": len(errors), "skipped_records": errors,
              "ecgsl_model": args.ecgsl, "resnet_model": args.resnet, "data": args.data, "methods": args.methods,
              "per_class": args.per_class, "delineation": "neurokit2.ecg_delineate(method='dwt')",
              "table": table, "paired_ecgsl_minus_resnet": paired}
    (HERE / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (HERE / "RESULTS.md").write_text(markdown(result, args))
    return result


def _fmt(s, pct=True) -> str:
    if s["mean"] is None:
        return "-"
    scale = 100.0 if pct else 1.0
    sd = "" if s["sd"] is None else f" ± {scale * s['sd']:.{1 if pct else 2}f}"
    return f"{scale * s['mean']:.{1 if pct else 2}f}{sd}"


def markdown(result, args) -> str:
    from ecgsl_keras.evaluation.explain import REGIONS

    t = result["table"]
    counts = ", ".join(f"{c} {t[c]['records']}" for c in CLASSES)
    lines = ["# Saliency shares per ECG wave: ECG-SL vs raw-signal ResNet (CinC 2017 validation)", "",
             f"Written by `experiments/saliency/run.py`; do not edit by hand. {result['records']} validation records "
             f"({counts}; {result['skipped']} skipped), ECG-SL "
             f"`{result['ecgsl_model']}`, ResNet `{result['resnet_model']}`. Waves: "
             f"{result['delineation']} on the cleaned lead at the training R-peaks. Cells: % of the absolute "
             "saliency of the predicted class's probability (mean ± sd over records). `time` is the share of "
             "the record's duration in that region (what a saliency spread evenly in time would get).", ""]
    for method in result["methods"]:
        lines += [f"## {method}", "", "| class | model | " + " | ".join(REGIONS) + " |",
                  "| --- | --- | " + " | ".join("---" for _ in REGIONS) + " |"]
        for cls in CLASSES + ("all",):
            for label, key in (("time", "time_shares"), ("ECG-SL", f"ecgsl/{method}"),
                               ("ResNet", f"resnet/{method}")):
                lines.append(f"| {cls} (n={t[cls]['records']}) | {label} | "
                             + " | ".join(_fmt(t[cls][key][r]) for r in REGIONS) + " |")
        lines.append("")
    lines += ["## Paired: ECG-SL minus ResNet, same records", "",
              "Per record, ECG-SL's share minus the ResNet's (percentage points, mean ± sd over all records), "
              "how many records ECG-SL's share is higher, and a two-sided Wilcoxon signed-rank p.", "",
              "| method | region | difference (pp) | ECG-SL higher | Wilcoxon p |", "| --- | --- | --- | --- | --- |"]
    for key, d in result["paired_ecgsl_minus_resnet"].items():
        method, region = key.split("/")
        diff = f"{100 * d['mean_diff']:+.1f} ± {100 * d['sd_diff']:.1f}" if d["sd_diff"] is not None else "-"
        pval = "-" if d["wilcoxon_p"] is None else f"{d['wilcoxon_p']:.1e}"
        lines.append(f"| {method} | {region} | {diff} | {d['ecgsl_higher']}/{d['n']} | {pval} |")
    lines += ["", "## Delineation coverage", "", "Share of beats per record whose wave neurokit2 delineated "
              "plausibly (QRS: both bounds; otherwise R -/+ 50 ms was used).", "",
              "| class | P wave | QRS | ST-T |", "| --- | --- | --- | --- |"]
    for cls in CLASSES + ("all",):
        d = t[cls]["delineated"]
        lines.append(f"| {cls} | {_fmt(d['p_wave'])} | {_fmt(d['qrs'])} | {_fmt(d['st_t'])} |")
    lines += ["", "## Attention: the failure signature", "",
              "Entropy of ECG-SL's record attention (nats) against the uniform attention's, log(n beats); "
              "ratio = entropy / log n (1: uniform); max x n: the largest weight over the uniform 1/n.", "",
              "| class | records | entropy | log n (uniform) | ratio | max weight x n | ECG-SL acc. % | ResNet acc. % |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for cls in CLASSES + ("all",):
        e = t[cls]
        lines.append(f"| {cls} | {e['records']} | {_fmt(e['ecgsl/attention_entropy'], False)} | "
                     f"{_fmt(e['ecgsl/uniform_entropy'], False)} | {_fmt(e['ecgsl/entropy_ratio'], False)} | "
                     f"{_fmt(e['ecgsl/attention_max_x_n'], False)} | {100 * e['ecgsl/accuracy']['mean']:.1f} | "
                     f"{100 * e['resnet/accuracy']['mean']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cinc-dir", required=True, help="CinC 2017 training2017 folder (raw records)")
    p.add_argument("--data", required=True, help="prepared CinC folder whose validation split names the records")
    p.add_argument("--ecgsl", required=True, help="ECG-SL run folder, .keras or preset name")
    p.add_argument("--resnet", required=True, help="raw-signal ResNet run folder")
    p.add_argument("--work", required=True, help="folder for records.jsonl")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--methods", nargs="+", default=["vanilla", "integrated"])
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    from ecgsl_keras.evaluation import explain
    from ecgsl_keras.errors import ECGSLError

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    lines = work / "records.jsonl"
    if not args.report_only:
        done = set()
        if lines.is_file():
            done = {json.loads(line)["record"] for line in lines.read_text().splitlines() if line.strip()}
        todo = [(r, c) for r, c in choose(validation_records(args.data), args.per_class) if r not in done]
        log.info("%d records done, %d to go", len(done), len(todo))
        models = {"ecgsl": explain.load(args.ecgsl), "resnet": explain.load(args.resnet)}
        start = time.time()
        for i, (record_id, label) in enumerate(todo):
            try:
                row = analyse(record_id, label, args, models)
            except ECGSLError as error:
                row = {"record": record_id, "label": label, "error": str(error)}
                log.warning("skipping %s", error)
            with lines.open("a") as f:
                f.write(json.dumps(row) + "\n")
            if i % 10 == 0:
                log.info("%d/%d records, %.1f s/record", i + 1, len(todo), (time.time() - start) / (i + 1))
    result = report(work, args)
    print(json.dumps({k: v for k, v in result.items() if k not in ("table", "skipped_records")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

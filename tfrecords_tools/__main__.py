"""Command line: look into and check a folder of shards.

    python -m tfrecords_tools inspect DIR [--examples 3] [--split train]
    python -m tfrecords_tools verify DIR

``inspect`` prints counts, the label distribution (with the manifest's label names), beats per
example (min / median / max, read from the shards) and the first examples. ``verify`` checks every
shard against ``manifest.json``: byte size, SHA-256, example and beat counts, and a parse of every
example with the schema; a shard in the folder that the manifest does not list, or one it lists that
is missing, is an error too. Both print a table on stderr and one JSON object as the last line of
stdout; ``verify`` exits with status 1 (and names the shard) on any mismatch.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys

import numpy as np

from tfrecords_tools import fs
from tfrecords_tools import manifest as manifest_lib
from tfrecords_tools.errors import TFRecordsError
from tfrecords_tools.schema import MANIFEST_NAME, SCHEMA_VERSION

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _err(*args) -> None:
    print(*args, file=sys.stderr)


def _shard_summaries(folder: str, entries, compression):
    """Per shard: n_beats of every example, parsed with the schema (raises tf errors on bad data)."""
    import tensorflow as tf

    from tfrecords_tools.schema import parse

    def shapes(serialized):
        p = parse(serialized)
        return {"schema_version": p["schema_version"], "n_beats": tf.shape(p["beats"])[0],
                "beat_len": tf.shape(p["beats"])[1], "n_rr": tf.shape(p["rr"])[1],
                "label_size": tf.size(p["label"]), "beat_label_size": tf.size(p["beat_labels"]),
                "label": p["label"], "beat_labels": p["beat_labels"]}

    for entry in entries:
        ds = tf.data.TFRecordDataset(fs.join(folder, entry["file"]), compression_type=compression or "")
        yield entry, ds.map(shapes, num_parallel_calls=tf.data.AUTOTUNE).ragged_batch(1024)


def _rows(tensor) -> list:
    """The rows of a batched tensor, ragged or dense, as Python lists."""
    return tensor.to_list() if hasattr(tensor, "to_list") else tensor.numpy().tolist()


def _label_names(manifest) -> list:
    return list(manifest_lib.label_info(manifest).get("label_names") or [])


def _named_counts(counts: dict, names: list) -> dict:
    def name(index: str):
        i = int(index)
        if i < 0:
            return "unlabelled"
        return names[i] if i < len(names) else index
    return {name(k): v for k, v in counts.items()}


# --- inspect -----------------------------------------------------------------------------------------

def inspect(folder, n_examples: int = 3, split=None) -> dict:
    import tensorflow as tf

    from tfrecords_tools.schema import decode_numpy

    folder = os.fspath(folder)
    manifest = manifest_lib.load_manifest(folder)
    names = _label_names(manifest)
    entries = [s for s in manifest["shards"] if split is None or s["split"] == split]
    if split is not None and not entries:
        raise TFRecordsError(fs.join(folder, MANIFEST_NAME), f"no shards of split {split!r}; splits: {sorted(manifest['splits'])}")
    beats_per_split: dict[str, list] = {}
    for entry, ds in _shard_summaries(folder, entries, manifest.get("compression")):
        for batch in ds:
            beats_per_split.setdefault(entry["split"], []).extend(batch["n_beats"].numpy().tolist())

    def spread(values):
        if not values:
            return {"min": None, "median": None, "max": None}
        return {"min": int(np.min(values)), "median": float(np.median(values)), "max": int(np.max(values))}

    splits = {}
    for name, info in manifest.get("splits", {}).items():
        if split is not None and name != split:
            continue
        splits[name] = {k: info.get(k) for k in ("examples", "beats", "shards", "bytes")}
        splits[name]["beats_per_example"] = spread(beats_per_split.get(name, []))
        splits[name]["labels"] = {
            "record": _named_counts(info["label_counts"]["record"]["examples"], names),
            "beat": _named_counts(info["label_counts"]["beat"]["beats"], names)}
    counts = manifest["label_counts"]
    examples = []
    for entry in entries:
        if len(examples) >= n_examples:
            break
        path = fs.join(folder, entry["file"])
        ds = tf.data.TFRecordDataset(str(path), compression_type=manifest.get("compression") or "")
        for raw in ds.take(n_examples - len(examples)):
            ex = decode_numpy(raw.numpy())
            label = ex.label.tolist()
            if len(label) == 1:
                label_text = [names[label[0]] if 0 <= label[0] < len(names) else str(label[0])]
            else:
                label_text = [names[i] if i < len(names) else str(i) for i in np.flatnonzero(ex.label).tolist()]
            beat_counts = {}
            if ex.beat_labels.size:
                values, n = np.unique(ex.beat_labels, return_counts=True)
                beat_counts = _named_counts({str(v): int(c) for v, c in zip(values.tolist(), n.tolist())}, names)
            examples.append({"file": entry["file"], "split": entry["split"], "record_id": ex.record_id,
                             "source": ex.source, "n_beats": ex.n_beats, "beat_len": ex.beat_len, "n_rr": ex.n_rr,
                             "fs": ex.fs, "segment_start_s": round(ex.segment_start_s, 3), "label": label,
                             "label_names": label_text, "beat_labels": beat_counts,
                             "beat_mean": float(ex.beats.mean()), "beat_std": float(ex.beats.std()),
                             "rr_first": [round(float(v), 4) for v in ex.rr[0]] if ex.n_rr else []})
    info = manifest_lib.label_info(manifest)
    all_beats = [v for vs in beats_per_split.values() for v in vs]
    return {
        "dir": str(folder), "schema_version": manifest["schema_version"], "created": manifest.get("created"),
        "compression": manifest.get("compression"), "beat_len": manifest.get("beat_len"), "n_rr": manifest.get("n_rr"),
        "fs": manifest.get("fs"), "label_kind": info.get("kind"), "label_names": names,
        "totals": manifest["totals"], "beats_per_example": spread(all_beats),
        "label_distribution": {"record": {"examples": _named_counts(counts["record"]["examples"], names),
                                          "beats": _named_counts(counts["record"]["beats"], names)},
                               "beat": {"examples": _named_counts(counts["beat"]["examples"], names),
                                        "beats": _named_counts(counts["beat"]["beats"], names)}},
        "splits": splits, "examples": examples,
    }


def _print_inspect(report: dict) -> None:
    _err(f"{report['dir']}: schema v{report['schema_version']}, created {report['created']}, "
         f"compression {report['compression']}, beat_len {report['beat_len']}, n_rr {report['n_rr']}, "
         f"fs {report['fs']}, labels {report['label_kind']} {report['label_names']}")
    _err(f"{'split':<12}{'examples':>10}{'beats':>10}{'shards':>8}{'MB':>9}{'beats/ex min/med/max':>24}  labels")
    for name, s in report["splits"].items():
        b = s["beats_per_example"]
        spread = f"{b['min']}/{b['median']}/{b['max']}"
        labels = s["labels"]["record"] or s["labels"]["beat"]
        _err(f"{name:<12}{s['examples']:>10}{s['beats']:>10}{s['shards']:>8}{s['bytes'] / 1e6:>9.2f}{spread:>24}  "
             f"{labels}")
    for ex in report["examples"]:
        _err(f"  {ex['split']}/{ex['record_id']}: {ex['n_beats']} beats x {ex['beat_len']}, rr {ex['n_rr']}, "
             f"fs {ex['fs']}, label {ex['label_names'] or ex['label']}"
             + (f", beat labels {ex['beat_labels']}" if ex["beat_labels"] else ""))


# --- verify ------------------------------------------------------------------------------------------

def _tf_message(exc) -> str:
    """The useful part of a TensorFlow error message (no function-node prefix, no op suffix)."""
    text = getattr(exc, "message", None) or str(exc)
    text = re.sub(r"\{\{function_node[^}]*\}\}\s*", "", text.strip().splitlines()[0])
    return re.sub(r"\s*\[Op:.*$", "", text).strip()


def _readable_prefix(path: str, compression) -> int:
    """How many records of a broken shard read before the error (one by one: only for broken shards)."""
    import tensorflow as tf

    count = 0
    try:
        for _ in tf.data.TFRecordDataset(str(path), compression_type=compression or ""):
            count += 1
    except tf.errors.OpError:
        pass
    return count


def verify(folder) -> dict:
    """Check every shard of ``folder`` against its manifest; ``report["ok"]`` is False on any mismatch."""
    import tensorflow as tf

    folder = os.fspath(folder)
    problems: list[dict] = []
    shards: list[dict] = []
    report = {"dir": str(folder), "ok": False, "shards_checked": 0, "examples": 0, "beats": 0,
              "problems": problems, "shards": shards}
    try:
        manifest = manifest_lib.load_manifest(folder)
    except TFRecordsError as exc:
        problems.append({"file": exc.path, "problem": exc.message})
        return report
    listed = {s["file"] for s in manifest["shards"]}
    for name in fs.listdir(folder):
        entry = fs.join(folder, name)
        if name in listed or name == MANIFEST_NAME:
            continue
        if manifest_lib.is_shard_name(name) or name.endswith((".tfrecord", ".tfrecord.gz", ".tmp")):
            problems.append({"file": name, "problem": "in the folder but not listed in manifest.json"})
        elif name.startswith(".staging-") and fs.isdir(entry):
            problems.append({"file": name, "problem": "staging folder left by an interrupted writer"})

    beat_len, n_rr = manifest.get("beat_len"), manifest.get("n_rr")
    counted = {}   # split -> LabelCounter recomputed from the shards (the manifest's label_counts become class weights)
    for entry in manifest["shards"]:
        path = fs.join(folder, entry["file"])
        found: list[str] = []
        result = {"file": entry["file"], "split": entry["split"], "ok": False, "problems": found}
        shards.append(result)
        if not fs.exists(path):
            found.append("listed in manifest.json but missing")
        else:
            size = fs.size(path)
            if size != entry["bytes"]:
                found.append(f"size {size} bytes, manifest says {entry['bytes']}")
            digest = fs.sha256(path)
            if entry.get("sha256") and digest != entry["sha256"]:
                found.append(f"SHA-256 {digest[:12]}... differs from the manifest's {entry['sha256'][:12]}...")
            n_examples = n_beats = 0
            bad_shape = bad_version = 0
            compression = manifest_lib.compression_of(path) or ""
            try:
                _, ds = next(_shard_summaries(folder, [entry], compression))
                labels = manifest_lib.LabelCounter()
                for batch in ds:
                    n_examples += int(batch["n_beats"].shape[0])
                    n_beats += int(batch["n_beats"].numpy().sum())
                    for label, beat_labels, beats in zip(_rows(batch["label"]), _rows(batch["beat_labels"]),
                                                         batch["n_beats"].numpy().tolist()):
                        labels.add(np.asarray(label), np.asarray(beat_labels), beats)
                    bad_version += int((batch["schema_version"].numpy() != SCHEMA_VERSION).sum())
                    if beat_len is not None:
                        bad_shape += int((batch["beat_len"].numpy() != beat_len).sum())
                    if n_rr is not None:
                        bad_shape += int((batch["n_rr"].numpy() != n_rr).sum())
            except (tf.errors.OpError, ValueError) as exc:
                n_examples = _readable_prefix(path, compression)
                found.append(f"unreadable after {n_examples} examples: {type(exc).__name__}: {_tf_message(exc)}")
            else:
                counted.setdefault(entry["split"], manifest_lib.LabelCounter()).merge(labels)
                if n_examples != entry["examples"]:
                    found.append(f"{n_examples} examples, manifest says {entry['examples']}")
                if "beats" in entry and n_beats != entry["beats"]:
                    found.append(f"{n_beats} beats, manifest says {entry['beats']}")
                if bad_version:
                    found.append(f"{bad_version} examples of another schema version than {SCHEMA_VERSION}")
                if bad_shape:
                    found.append(f"{bad_shape} examples whose beat_len / n_rr differ from the manifest's")
            result.update(examples=n_examples, beats=n_beats)
            report["examples"] += n_examples
            report["beats"] += n_beats
        result["ok"] = not found
        problems.extend({"file": entry["file"], "problem": p} for p in found)
        report["shards_checked"] += 1
    if not problems:
        for name, info in (manifest.get("splits") or {}).items():
            stated = manifest_lib.LabelCounter.from_dict(info.get("label_counts")).to_dict()
            found_counts = counted.get(name, manifest_lib.LabelCounter()).to_dict()
            if "label_counts" in info and stated != found_counts:
                problems.append({"file": MANIFEST_NAME, "problem": f"split {name!r}: label_counts "
                                 f"{stated['record']['examples'] or stated['beat']['beats']} differ from the shards' "
                                 f"{found_counts['record']['examples'] or found_counts['beat']['beats']}"})
    totals = manifest.get("totals", {})
    if not problems and totals.get("examples") is not None and report["examples"] != totals["examples"]:
        problems.append({"file": MANIFEST_NAME, "problem": f"shards hold {report['examples']} examples, "
                                                           f"totals say {totals['examples']}"})
    report["ok"] = not problems
    return report


def _print_verify(report: dict) -> None:
    for shard in report["shards"]:
        status = "ok" if shard["ok"] else "FAIL"
        _err(f"  {status:<5}{shard['file']:<40}{shard.get('examples', '-'):>8} examples")
    for p in report["problems"]:
        inside = p["file"] == report["dir"] or p["file"].startswith(report["dir"].rstrip("/") + "/")
        where = p["file"] if os.path.isabs(p["file"]) or inside else f"{report['dir']}/{p['file']}"
        _err(f"{where}: {p['problem']}")
    _err(f"{report['dir']}: {'OK' if report['ok'] else 'FAILED'} "
         f"({report['shards_checked']} shards, {report['examples']} examples, {len(report['problems'])} problems)")


# --- main --------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tfrecords_tools", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    ins = sub.add_parser("inspect", help="counts, label distribution, beats per example, first examples")
    ins.add_argument("dir")
    ins.add_argument("--examples", type=int, default=3, help="how many examples to show")
    ins.add_argument("--split", help="only this split")
    ver = sub.add_parser("verify", help="check every shard against manifest.json (exit 1 on any mismatch)")
    ver.add_argument("dir")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "inspect":
        try:
            report = inspect(args.dir, n_examples=max(args.examples, 0), split=args.split)
        except Exception as exc:   # TFRecordsError, or a shard failing its checksum (DataLossError)
            tf = sys.modules.get("tensorflow")
            if isinstance(exc, TFRecordsError):
                message = str(exc)
            elif tf is not None and isinstance(exc, tf.errors.OpError):
                message = (f"{args.dir}: a shard cannot be read ({_tf_message(exc)}); "
                           f"python -m tfrecords_tools verify {args.dir} names it")
            else:
                raise
            _err(f"error: {message}")
            print(json.dumps({"dir": args.dir, "ok": False, "error": message}))
            return 1
        _print_inspect(report)
        print(json.dumps(report))
        return 0
    report = verify(args.dir)
    _print_verify(report)
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

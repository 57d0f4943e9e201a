"""The committed out-of-fold table of the CinC 2017 AF levers (issue 18): where it lies and the one reader of it.

``oof_from_preset.py`` writes it (the shipped preset's fold members' probabilities); ``af_lever.py``, ``rr_lever.py``,
``af_specialist.py``, ``af_errors.py`` and ``label_noise.py`` read it. A module of its own so that the writer, which
runs ``af_lever``'s ``Lever`` for its checks, and the readers do not import each other. Also the one writer of the
per-record extra-column tables beside it (``extract_columns``: ``atrial_waves.py``, ``atrial_spectrum.py``), and
of the RR series their RR column functions read (``detector_rr``).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from experiments.shared_data import CINC2017

HERE = Path(__file__).resolve().parent
FAMILIES = {"ecgsl": "model.keras", "resnet": "resnet1d.keras"}   # table key -> the preset file of its fold members
DEFAULT_NPZ = HERE / "oof" / "deep_oof.npz"
DEFAULT_FEATURES_NPZ = HERE / "oof" / "features118.npz"
DEFAULT_CINC_DIR = CINC2017


def detector_rr(signal, fs):
    """The RR intervals (s, in beat order) of a signal on ``record_features``' R-peaks (``signal.find_rpeaks`` on
    ``signal.clean``, the default ``SignalConfig``), the series the RR column levers read (``rr_periodicity``,
    ``lorenz_member``); None where the detector fails (too short or flat a signal: the caller's empty row)."""
    import warnings

    from ecgsl_keras.config import SignalConfig
    from ecgsl_keras.data.signal import clean, find_rpeaks

    x = np.asarray(signal, np.float64).reshape(-1)
    config = SignalConfig()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            peaks = find_rpeaks(x, fs, config, cleaned=clean(x, fs, config.clean_method))
        except Exception:  # noqa: BLE001  (the detector raises several kinds on such signals)
            return None
    return np.diff(peaks) / float(fs)


def load_deep_oof(path) -> dict:
    """The committed out-of-fold table as ``hybrid.py``'s ``deep_oof.npz`` per family plus the folds:
    ``{"ecgsl": {split_record_id, split_targets, split_probabilities}, "resnet": {...}, "fold_of": {id: fold}}``
    (``_aligned`` reads the family tables). A clear error naming the file when it lacks a key."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"error: {path}: no such file (write it with experiments/cinc2017/oof_from_preset.py)")
    data = np.load(path)
    missing = {"record_id", "split", "fold", "label", *FAMILIES} - set(data.files)
    if missing:
        raise SystemExit(f"error: {path}: not an oof_from_preset table (missing {sorted(missing)})")
    ids, split = data["record_id"].astype(str), data["split"].astype(str)
    out = {"fold_of": {r: int(f) for r, f, s in zip(ids, data["fold"], split) if s == "train"}}
    for family in FAMILIES:
        table = {}
        for s in ("train", "validation"):
            rows = split == s
            table[f"{s}_record_id"] = ids[rows]
            table[f"{s}_targets"] = data["label"][rows].astype(int)
            table[f"{s}_probabilities"] = data[family][rows].astype(np.float64)
        out[family] = table
    return out


def extract_columns(columns, names, features, deep_oof, cinc_dir, work, out, limit=0, log=None) -> dict:
    """Extra columns for ``af_lever.py``'s ``extra`` step, one row per record of the ``features`` table:
    ``columns(signal, fs)`` (a row of ``len(names)``; NaN where the record cannot be read) on every CinC record, the
    training records of ``deep_oof``'s split first (so the CV can start before validation is done), at most
    ``limit`` (0: all). Cached as one ``.npy`` row per record in ``work/rows`` (resumable); the ms per record of
    ``columns`` (after loading) appended to ``work/timing.json``. Writes ``out`` (npz: record_id, names, X float32 of
    the records done, in the table's order) and returns ``{ids, done, X, ms, deep}`` (``ms``: every timing so far,
    ``deep``: the loaded ``deep_oof``) for the caller's results JSON."""
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.errors import RecordError

    table = np.load(features)
    ids = [str(r) for r in table["record_id"]]
    deep = np.load(deep_oof)      # its split column: training records first
    split = {str(r): str(s) for r, s in zip(deep["record_id"], deep["split"])}
    order = sorted(ids, key=lambda r: (split.get(r, "train") != "train", r))
    if limit:
        order = order[:limit]
    cache = Path(work) / "rows"
    cache.mkdir(parents=True, exist_ok=True)
    reader = open_dataset("cinc2017", cinc_dir)
    ms, start = [], time.perf_counter()
    for k, rid in enumerate(order, 1):
        path = cache / f"{rid}.npy"
        if path.is_file():
            continue
        try:
            record = reader.load(rid)
            t0 = time.perf_counter()
            row = columns(record.lead(None), record.fs)
            ms.append(1e3 * (time.perf_counter() - t0))
        except RecordError as error:
            if log:
                log.warning("%s skipped: %s", rid, error)
            row = np.full(len(names), np.nan)
        np.save(path, row)
        if log and k % 250 == 0:
            log.info("%d/%d records, %.0f s", k, len(order), time.perf_counter() - start)
    timing_path = Path(work) / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {"ms": []}
    timing["ms"] += [round(m, 2) for m in ms]
    timing_path.write_text(json.dumps(timing) + "\n")
    done = [r for r in ids if (cache / f"{r}.npy").is_file()]
    X = np.stack([np.load(cache / f"{r}.npy") for r in done]) if done else np.zeros((0, len(names)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, record_id=np.array(done), names=np.array(names), X=X.astype(np.float32))
    return {"ids": ids, "done": done, "X": X, "ms": np.asarray(timing["ms"]), "deep": deep}


def column_arguments(parser, key) -> None:
    """The command line of the extra-column scripts (``extract_columns``'s inputs; ``--results``: the results JSON
    whose key ``key`` the script writes)."""
    cinc_dir_argument(parser)
    parser.add_argument("--features", type=Path, default=DEFAULT_FEATURES_NPZ)
    parser.add_argument("--deep-oof", type=Path, default=DEFAULT_NPZ)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--results", type=Path, help=f"results JSON (key {key})")
    parser.add_argument("--limit", type=int, default=0)


def table_rows(path, record_ids) -> np.ndarray:
    """The rows of ``extract_columns``' table ``path`` for ``record_ids``, in their order; a missing file or record
    stops with the file named (its script's ``--steps extract`` writes it)."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"error: {path}: not found: run --steps extract first")
    z = np.load(path)
    index = {str(r): i for i, r in enumerate(z["record_id"])}
    missing = [r for r in record_ids if r not in index]
    if missing:
        raise SystemExit(f"error: {path} lacks {len(missing)} of the records asked for (e.g. {missing[0]}): "
                         "rerun --steps extract")
    return z["X"][[index[r] for r in record_ids]]


def extract_block(got, table, ids, names) -> dict:
    """The ``extract`` block of a columns lever (``lorenz_columns``, ``rr_periodicity``): ``extract_columns``' records
    done, the training records ``ids``, the column ``names``, each column's NaN share on the training rows of the
    written ``table`` and the median ms per record (None when every row came from the cache)."""
    rows = table_rows(table, ids)
    return {"records": len(got["done"]), "training_records": len(ids), "names": list(names),
            "nan_fraction": {n: round(float(np.isnan(rows[:, j]).mean()), 4) for j, n in enumerate(names)},
            "ms_per_record_median": round(float(np.median(got["ms"])), 1) if len(got["ms"]) else None}


def cinc_dir_argument(parser) -> None:
    """``--cinc-dir``: the CinC 2017 training folder whose signals a script reads (default ``DEFAULT_CINC_DIR``)."""
    parser.add_argument("--cinc-dir", type=Path, default=DEFAULT_CINC_DIR)


def column_summary(got, names) -> dict:
    """The results JSON's description of ``extract_columns``' table: NaN share per column, ms per record."""
    X, t = got["X"], got["ms"]
    return {"nan_fraction": {n: round(float(np.mean(np.isnan(X[:, j]))), 4) for j, n in enumerate(names)}
            if got["done"] else {},
            "ms_per_record": {"median": round(float(np.median(t)), 2), "mean": round(float(t.mean()), 2),
                              "p95": round(float(np.percentile(t, 95)), 2), "timed": int(t.size)} if t.size else {}}


def train_rows(got):
    """Rows of ``extract_columns``' table in the training split and their class names (``deep_oof``'s labels): the
    description is on the training split only (the CV of af_lever's extra step decides)."""
    deep, done = got["deep"], got["done"]
    label = {str(r): str(deep["label_names"][int(c)]) for r, c, sp in zip(deep["record_id"], deep["label"],
                                                                           deep["split"]) if sp == "train"}
    train = [i for i, r in enumerate(done) if r in label]
    return train, np.array([label[done[i]] for i in train])


def lever_arguments(doc, steps, key, argv=None, extra=None):
    """Logging to stderr and the command line of a lever script (``af_specialist.py``, ``label_noise.py``), parsed:
    ``--work``, the two tables, ``--steps`` (of ``steps``, all by default), ``--k`` folds, ``--out`` (key ``key``);
    ``extra(parser)`` adds a script's own options."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--features", type=Path, default=DEFAULT_FEATURES_NPZ)
    p.add_argument("--deep-oof", type=Path, default=DEFAULT_NPZ)
    p.add_argument("--steps", nargs="+", choices=steps, default=list(steps))
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--out", type=Path, help=f"results JSON of the repo (key {key})")
    if extra is not None:
        extra(p)
    return p.parse_args(argv)


def run_steps(make, steps, path, keep_rule):
    """``(lever, result)``: the work JSON ``path``'s result so far (resumable) with ``keep_rule``, then each of
    ``steps`` run as ``lever.step_<name>(result)`` on ``make()``'s lever, the JSON written after each."""
    path = Path(path)
    result = json.loads(path.read_text()) if path.is_file() else {}
    result["keep_rule"] = keep_rule
    lever = make()
    for step in steps:
        getattr(lever, f"step_{step}")(result)
        path.write_text(json.dumps(result, indent=1) + "\n")
    return lever, result


def lever_main(doc, steps, key, make, keep_rule, argv=None, extra=None, step="cv", before_finish=None,
               script=None) -> int:
    """The command line of a lever script (``label_noise.py``, ``meta_blend.py``, ``tree_diversity.py``,
    ``crop_augment.py``, ``detector_diversity.py``): its arguments (``lever_arguments``), WORK/oof, the steps run on
    ``make(args)``'s lever (``run_steps``, resumable from WORK/<key>.json), the command added to the result, the
    records counted, ``before_finish(result)`` where given, and the result written under ``key`` (``finish_lever``,
    whose summary names ``step``). ``script``: the script's file name when it is not ``<key>.py``."""
    args = lever_arguments(doc, steps, key, argv, extra)
    (args.work / "oof").mkdir(parents=True, exist_ok=True)
    path = args.work / f"{key}.json"
    lever, result = run_steps(lambda: make(args), args.steps, path, keep_rule)
    add_command(result, script or f"{key}.py", argv, latest=True)      # every step's command, in run order
    result["records"] = {s: len(v) for s, v in lever.lever.ids.items()}
    if before_finish is not None:
        before_finish(result)
    finish_lever(path, result, args.out, key, step)
    return 0


def finish_lever(path, result, out, key, step) -> None:
    """The end of a lever script (``af_specialist.py``, ``label_noise.py``): ``result`` to its work JSON ``path`` and,
    with ``out``, under ``key`` of the repo's results JSON; one summary line on stdout (the command, the records,
    and whether the main ``step`` kept the lever and its seconds where it ran)."""
    Path(path).write_text(json.dumps(result, indent=1) + "\n")
    if out:
        save_results(out, key, result)
    summary = {"command": result["command"], "records": result["records"]}
    if step in result:
        summary.update(kept=result[step]["kept"], seconds=result[step]["seconds"])
    print(json.dumps(summary))


def save_results(path, key, result) -> None:
    """``result`` under ``key`` of the results JSON ``path`` (other keys, e.g. af_lever's, stay)."""
    path = Path(path)
    saved = json.loads(path.read_text()) if path.is_file() else {}
    saved[key] = result
    path.write_text(json.dumps(saved, indent=1) + "\n")


def timed_steps(steps, run, result, saved, key, out, log) -> None:
    """Each of ``steps`` run as ``run(step)`` (which puts its figures into ``result``), its seconds into
    ``result["seconds"]``, and ``result`` written under ``key`` of the results JSON ``out`` (``saved``: its content)
    after each step, so that a later step can resume from it (``rr_lever``, ``relative_lever``, ``seed_lever``)."""
    for step in steps:
        t0 = time.perf_counter()
        run(step)
        result.setdefault("seconds", {})[step] = round(time.perf_counter() - t0, 1)
        log.info("step %s done in %.0f s", step, time.perf_counter() - t0)
        saved[key] = result
        out.write_text(json.dumps(saved, indent=1) + "\n")


def add_command(result, script, argv, latest=False) -> str:
    """The command line of ``script`` (``argv``, or this process's), added once to ``result["commands"]`` (and with
    ``latest`` as ``result["command"]`` too, rr_lever's key)."""
    command = f"python experiments/cinc2017/{script} " + " ".join(argv if argv is not None else sys.argv[1:])
    if latest:
        result["command"] = command
    if command not in result.setdefault("commands", []):
        result["commands"].append(command)
    return command


def finish_chosen_lever(out, saved, key, result, script, argv, target) -> int:
    """The end of a lever script whose CV step chooses a row (``relative_lever``, ``seed_lever``): the command, the
    distance to the AF target ``target`` of the shipped preset and of the chosen row where it was validated,
    ``result`` under ``key`` of the results JSON ``out`` (``saved``: its content), one summary line on stdout."""
    command = add_command(result, script, argv)
    shipped = json.loads((HERE / "ship_results.json").read_text())["shipped"]["per_class_f1"]["A"]
    af = {"target": target, "shipped_preset_validation_af_f1": shipped, "shipped_short_by": target - shipped}
    chosen = (result.get("cv") or {}).get("chosen")
    if chosen and result.get("validation"):
        v = result["validation"][chosen]["summary"]["per_class_f1"]["A"]["mean"]
        af.update(row=chosen, validation_af_f1=v, short_by=target - v)
    result["af_target"] = af
    saved[key] = result
    out.write_text(json.dumps(saved, indent=1) + "\n")
    print(json.dumps({"command": command, "chosen": chosen, "seconds": result.get("seconds")}))
    return 0


def validation_af_f1(validation, target) -> dict:
    """The validation AF F1 (mean over booster seeds) without and with a lever and how far each is short of
    ``target``, for a results JSON's ``af_target``; empty when the lever was not validated (not kept)."""
    if not isinstance(validation, dict):
        return {}
    out = {}
    for k in ("without", "with"):
        v = validation[k]["summary"]["per_class_f1"]["A"]["mean"]
        out[f"validation_{k}_af_f1"], out[f"validation_{k}_short_by"] = v, target - v
    return out

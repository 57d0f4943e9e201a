"""Classify every record of a folder into one table (``ecgsl predict --data-dir DIR --csv OUT.csv``).

    from ecgsl_keras.serving.folder import find_inputs, predict_folder, write_rows
    rows = predict_folder(load_model("cinc2017"), "my_records/", workers=4)
    write_rows(rows, "predictions.csv", columns(predictor))

Inputs: WFDB records (one per ``.hea``), EDF files (``.edf``) and, when a rate ``fs`` is given,
``.npy``/``.csv`` signal files (``ecgsl_keras.data.readers.read_input``), in the folder itself, or
with ``recursive`` in its subfolders too. Each gives one row: ``record`` (the path relative to the folder, without
extension), ``prediction``, then ``p_<class>`` per class (record-level models; multi-label labels
joined by ``;``) or ``n_beats`` and ``n_<class>`` beats per class (per-beat models, whose
``prediction`` is the most frequent beat class), and ``status`` (``ok`` or ``refused``) with the
``reason`` of a refused record (wrong lead, too short, unreadable...). A refused record keeps its
row: nothing is dropped silently. Probabilities are rounded to 3 places.

``workers`` > 1 reads and preprocesses the records in that many spawned processes (the numpy signal
chain; the model runs in this process).
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from ecgsl_keras.data.readers import EDF_SUFFIXES, SIGNAL_SUFFIXES, read_input
from ecgsl_keras.errors import ECGSLError, RecordError

STATUS_OK, STATUS_REFUSED = "ok", "refused"
DIGITS = 3   # probabilities in tables and CSV files


def _inputs_in(paths, with_signal_files: bool) -> list[Path]:
    found = []
    for path in paths:
        suffix = path.suffix.lower()
        if path.is_dir():          # a subfolder is read only through ``recursive`` (rglob lists its files)
            continue
        if suffix == ".hea":
            found.append(path.with_suffix(""))
        elif suffix in EDF_SUFFIXES or (with_signal_files and suffix in SIGNAL_SUFFIXES):
            found.append(path)
    return found


def find_inputs(data_dir, with_signal_files: bool = False, recursive: bool = False) -> list[Path]:
    """The records of ``data_dir``: ``.hea`` (as the record path without extension) and ``.edf`` files,
    and ``.npy``/``.csv`` files when ``with_signal_files``; with ``recursive`` those of its subfolders too
    (PhysioNet's layouts, e.g. PTB-XL's ``records500/00000/``); sorted by path. A folder without records
    of its own whose subfolders hold some is refused with ``--recursive`` named."""
    folder = Path(data_dir)
    if not folder.is_dir():
        raise RecordError(folder, "missing_file", "no such folder")
    found = _inputs_in(sorted(folder.rglob("*") if recursive else folder.iterdir()), with_signal_files)
    if not found:
        kinds = ".hea, .edf" + (", .npy, .csv" if with_signal_files else " (.npy/.csv need --fs)")
        nested = [] if recursive else _inputs_in(folder.rglob("*"), with_signal_files)
        hint = (f"; its subfolders hold {len(nested)}: add --recursive to read them" if nested else "")
        raise RecordError(folder, "missing_record", f"no records in this folder (looked for {kinds} files){hint}")
    return found


def columns(predictor) -> list[str]:
    """The CSV columns for ``predictor``'s rows."""
    names = list(predictor.label_names)
    if predictor.per_beat:
        return ["record", "prediction", "n_beats"] + [f"n_{n}" for n in names] + ["lead", "status", "reason"]
    return ["record", "prediction"] + [f"p_{n}" for n in names] + ["lead", "status", "reason"]


def result_row(predictor, result: dict) -> dict:
    """The columns of one classified record (``predict_signal``'s result)."""
    names = list(predictor.label_names)
    if predictor.per_beat:
        counts = result["label_counts"]
        row = {"prediction": max(names, key=lambda n: counts.get(n, 0)) if result["n_beats"] else "",
               "n_beats": result["n_beats"]}
        row.update({f"n_{n}": counts.get(n, 0) for n in names})
        return row
    probabilities = np.asarray(result["probabilities"], np.float64).reshape(-1)
    keys = names if probabilities.size == len(names) else names[-probabilities.size:]   # binary: one sigmoid
    label = result["label"]
    row = {"prediction": ";".join(label) if isinstance(label, (list, tuple)) else label}
    row.update({f"p_{n}": round(float(p), DIGITS) for n, p in zip(keys, probabilities)})
    return row


# --- worker side -------------------------------------------------------------------------------------

_WORKER = {}


def _init_worker(signal_config: dict, read_kwargs: dict):
    import logging

    from ecgsl_keras.config import SignalConfig

    logging.basicConfig(level=logging.ERROR)
    _WORKER["signal_config"] = SignalConfig.from_dict(signal_config)
    _WORKER["read_kwargs"] = read_kwargs


def _read_and_preprocess(path):
    """Runs in a worker: (path, LeadSignal or None, Beats or None, error message or None)."""
    from ecgsl_keras.data.signal import check_quality, preprocess

    try:
        found = read_input(path, **_WORKER["read_kwargs"])
        config = _WORKER["signal_config"]
        check_quality(found.signal, found.fs, config, found.path)
        return path, found, preprocess(np.asarray(found.signal, np.float32), found.fs, config, path=found.path), None
    except ECGSLError as exc:
        return path, None, None, str(exc)


# --- driver ------------------------------------------------------------------------------------------

def predict_folder(predictor, data_dir, *, fs=None, column=None, units=None, lead=None, workers: int = 1,
                   progress: bool = True, recursive: bool = False) -> list[dict]:
    """One row per record of ``data_dir`` (``recursive``: and of its subfolders; see the module docstring),
    refused records included."""
    from tqdm import tqdm

    data_dir = Path(data_dir)
    paths = find_inputs(data_dir, with_signal_files=fs is not None, recursive=recursive)
    read_kwargs = {"fs": fs, "column": column, "units": units, "lead": lead,
                   "model_lead": getattr(predictor, "lead", None)}

    def inputs_of(path):
        suffix = Path(path).suffix.lower()
        if suffix in SIGNAL_SUFFIXES:
            return read_kwargs
        return dict(read_kwargs, fs=None, column=None, units=None)   # a record states them itself

    from ecgsl_keras.data.prepare import pool_map

    rows = []
    with pool_map(_read_and_preprocess_any, [(p, inputs_of(p)) for p in paths], workers,
                  (predictor.config.signal.to_dict(), read_kwargs), initializer=_init_worker) as prepared:
        for path, found, beats, error in tqdm(prepared, total=len(paths), desc="predict", unit="rec",
                                              disable=not progress, file=sys.stderr):
            name = str(Path(path).relative_to(data_dir).with_suffix("")) if Path(path).suffix.lower() in (
                SIGNAL_SUFFIXES + EDF_SUFFIXES) else str(Path(path).relative_to(data_dir))
            row = {"record": name}
            if found is not None:
                row["lead"] = found.lead
                try:
                    result = predictor.predict_signal(found.signal, found.fs, path=found.path, beats=beats)
                    row.update(result_row(predictor, result))
                except ECGSLError as exc:
                    error = str(exc)
            row.update(status=STATUS_REFUSED if error else STATUS_OK, reason=error or "")
            rows.append(row)
    return rows


def _read_and_preprocess_any(item):
    path, kwargs = item
    _WORKER["read_kwargs"] = kwargs
    return _read_and_preprocess(path)


def write_rows(rows, out_csv, columns_) -> Path:
    """``rows`` as a CSV file with ``columns_`` (missing cells empty)."""
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with open(out_csv, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns_), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row.get(key, "") for key in columns_})
    return out_csv

"""One lead of an ECG, in millivolts, for prediction (``ecgsl predict``, ``edge``, ``explain``).

Inputs (:func:`read_input` picks the reader by the file's extension):

- WFDB records (``.hea`` plus its signal file; the path with or without ``.hea``/``.dat``/``.mat``),
  read by ``ecgsl_keras.data.datasets.wfdb_folder.read_wfdb_signal`` (the readers of the data sets use
  it too), so headers, truncated files and unknown leads are checked in one place;
- EDF/EDF+ files (``.edf``), read by wfdb's EDF reader (``wfdb.io.convert.edf.read_edf``); lead
  names and physical units come from the EDF header;
- NumPy (``.npy``) and CSV (``.csv``) signal files: one lead (a 1-D array, one column, or the
  column chosen with ``column``), at the rate ``fs`` the caller states, in ``units`` (``uV``, ``mV``
  or ``V``; default mV). A CSV may start with a header line naming its columns (they are taken
  as lead names).

The lead rule (:func:`choose_lead`): a model trained on a lead runs on that lead. An input that
lacks it is refused (``RecordError``, reason ``wrong_lead``) with a message naming the lead the model
wants and the leads the input has, unless the caller asks for another lead on purpose (``lead=``,
``ecgsl predict --lead NAME``). A single-lead input whose lead has no standard lead name (no name,
``ECG``, a CSV column called ``signal``...) is accepted, as is any input for a model whose lead is
not recorded.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgsl_keras.data.datasets.wfdb_folder import UNIT_TO_MV, read_header, read_wfdb_signal
from ecgsl_keras.errors import RecordError

__all__ = ["read_lead", "read_input", "read_signal_file", "read_edf", "choose_lead", "LeadSignal", "UNIT_TO_MV",
           "UNITS", "STANDARD_LEADS", "SIGNAL_SUFFIXES", "RECORD_SUFFIXES"]

# Names that identify an electrode placement; any other lead name ("ECG", "signal", "") says nothing
# about the lead, so a single lead so named is accepted by any model.
STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
                  "MLI", "MLII", "MLIII", "MV1", "MV2", "MV3", "MV4", "MV5", "MV6", "D1", "D2", "D3")
_STANDARD = {name.lower() for name in STANDARD_LEADS}
# Units accepted for signal files (``--units``), as millivolts per unit.
UNITS = {"uV": 1e-3, "mV": 1.0, "V": 1e3}
SIGNAL_SUFFIXES = (".npy", ".csv")
RECORD_SUFFIXES = (".hea", ".mat", ".dat")
EDF_SUFFIXES = (".edf",)


@dataclass(frozen=True)
class LeadSignal:
    """One lead of an input: ``signal`` float32 mV (n,), ``fs`` Hz, ``lead`` its name ('' if none),
    ``leads`` every lead of the input, ``model_lead`` the lead the model wants (None: any),
    ``overridden`` True when the caller chose a lead other than the model's on purpose."""

    signal: np.ndarray
    fs: float
    lead: str
    leads: tuple
    path: str
    model_lead: str | None = None
    overridden: bool = False

    @property
    def note(self) -> str:
        """One sentence for people when the lead was overridden ('' otherwise)."""
        if not self.overridden:
            return ""
        return (f"running on lead {self.lead or '(unnamed)'} on purpose (--lead); the model was trained on lead "
                f"{self.model_lead}, so its output may be wrong")


def is_standard_lead(name) -> bool:
    """Whether ``name`` names an electrode placement (``II``, ``MLII``, ``V5``...), case-insensitive."""
    return str(name or "").strip().lower() in _STANDARD


def _find(names, name):
    lowered = [str(n or "").strip().lower() for n in names]
    try:
        return lowered.index(str(name).strip().lower())
    except ValueError:
        return None


def choose_lead(names, model_lead=None, lead=None, path="<record>") -> tuple[int, bool]:
    """``(index, overridden)`` of the lead to run on among ``names`` (the lead rule, module docstring).

    ``model_lead``: the lead the model was trained on (None: not recorded, the first lead is used).
    ``lead``: a lead asked for on purpose; it must exist, except on a single lead without any name
    (a ``.npy`` file: the caller says which lead it is). ``overridden`` is True when ``lead`` differs from ``model_lead``."""
    names = list(names)
    if lead is not None:
        index = _find(names, lead)
        if index is None:
            if len(names) == 1 and not str(names[0] or "").strip():   # a lead without any name: the caller names it
                index = 0
            else:
                raise RecordError(path, "missing_lead", f"lead {lead!r} not in record (leads: {names})")
        overridden = model_lead is not None and str(lead).strip().lower() != str(model_lead).strip().lower()
        return index, overridden
    if model_lead is None:
        return 0, False
    index = _find(names, model_lead)
    if index is not None:
        return index, False
    if len(names) == 1 and not is_standard_lead(names[0]):
        return 0, False
    raise RecordError(path, "wrong_lead",
                      f"the model was trained on lead {model_lead}, and this record has no such lead (leads: "
                      f"{names}); pass --lead NAME (lead=NAME) to run it on another lead on purpose")


def _strip_record_suffix(record_path) -> str:
    record_path = str(record_path)
    for suffix in RECORD_SUFFIXES:
        if record_path.endswith(suffix):
            return record_path[: -len(suffix)]
    return record_path


def read_lead(record_path, lead=None, *, model_lead=None):
    """``(signal_mV 1-D float32, fs, lead name)`` of one lead of a WFDB record: ``lead`` if given,
    else the model's lead (``model_lead``), else the first (:func:`choose_lead`). ``record_path`` may
    carry the ``.hea``, ``.mat`` or ``.dat`` extension."""
    found = read_record(record_path, lead=lead, model_lead=model_lead)
    return found.signal, found.fs, found.lead


def read_record(record_path, *, lead=None, model_lead=None) -> LeadSignal:
    """:class:`LeadSignal` of a WFDB record (see :func:`read_lead`)."""
    record_path = _strip_record_suffix(record_path)
    if not Path(record_path + ".hea").is_file():
        hint = "" if Path(record_path).suffix else "; .edf, .npy and .csv files are read by their extension"
        raise RecordError(record_path, "missing_record",
                          f"no such WFDB record (expected a .hea header beside it){hint}")
    header = read_header(record_path)
    names = list(header.sig_name or [])
    index, overridden = choose_lead(names or [""], model_lead, lead, record_path)
    unit = ((header.units or [None] * len(names))[index] or "mV").strip() if names else "mV"
    if unit.lower() not in UNIT_TO_MV:
        raise RecordError(record_path, "bad_units", f"lead {names[index]!r} is in {unit!r}; expected mV, uV or V")
    signal, fs, lead_names, _ = read_wfdb_signal(record_path, lead=index, header=header)
    return LeadSignal(np.asarray(signal[:, 0], np.float32), float(fs), lead_names[0], tuple(names), record_path,
                      model_lead, overridden)


def units_to_mv(units, path="<signal>") -> float:
    """Millivolts per unit of ``units`` (``uV``, ``mV`` or ``V``; case-insensitive, µV accepted)."""
    key = {"uv": "uV", "µv": "uV", "μv": "uV", "mv": "mV", "v": "V"}.get(str(units).strip().lower())
    if key is None:
        raise RecordError(path, "bad_units", f"unknown unit {units!r}; expected one of {list(UNITS)}")
    return UNITS[key]


def _check_fs(fs, path) -> float:
    if fs is None:
        raise RecordError(path, "missing_fs", "a signal file does not say its sampling rate: give it (--fs HZ)")
    try:
        fs = float(fs)
    except (TypeError, ValueError):
        raise RecordError(path, "bad_rate", f"sampling rate must be a number of Hz, got {fs!r}") from None
    if not np.isfinite(fs) or fs <= 0:
        raise RecordError(path, "bad_rate", f"sampling rate must be a positive number of Hz, got {fs!r}")
    return fs


def _read_csv(path: Path):
    """(values (n, k) float64, column names) of a CSV of numbers, with or without a header line."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(path, "bad_signal", f"cannot read the CSV ({exc})") from None
    if not rows:
        raise RecordError(path, "bad_signal", "the CSV holds no rows")

    def numbers(row):
        try:
            return [float(cell) for cell in row]
        except ValueError:
            return None

    names = None
    if numbers(rows[0]) is None:
        names, rows = [cell.strip() for cell in rows[0]], rows[1:]
    width = len(names) if names else len(rows[0]) if rows else 0
    values = []
    for line, row in enumerate(rows, start=2 if names else 1):
        parsed = numbers(row)
        if parsed is None or len(parsed) != width:
            raise RecordError(path, "bad_signal", f"line {line}: expected {width} numbers, got {row[:6]}")
        values.append(parsed)
    if not values:
        raise RecordError(path, "bad_signal", "the CSV holds a header line but no samples")
    return np.asarray(values, np.float64), names or [""] * width


def read_signal_file(path, fs, *, column=None, units="mV", lead=None, model_lead=None) -> LeadSignal:
    """:class:`LeadSignal` of a ``.npy`` or ``.csv`` signal file sampled at ``fs`` Hz in ``units``.

    ``.npy``: a 1-D array (or one row), or 2-D (samples, leads) with one lead or ``column`` its index
    (an array with fewer rows than columns is refused as (leads, samples)). ``.csv``:
    one column of numbers, or the column named (or numbered from 0) by ``column``; a first line
    that is not numbers names the columns. The lead rule applies to named columns."""
    path = Path(path)
    fs = _check_fs(fs, path)
    scale = units_to_mv(units if units is not None else "mV", path)
    if not path.is_file():
        raise RecordError(path, "missing_file", "no such file")
    if path.suffix.lower() == ".npy":
        try:
            values = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise RecordError(path, "bad_signal", f"cannot read the NumPy file ({exc})") from None
        if values.dtype.kind not in "iuf":
            raise RecordError(path, "bad_shape", f"expected numbers, got an array of {values.dtype}")
        if values.ndim == 2 and values.shape[0] == 1:     # one lead saved as a row: unambiguous
            values = values.reshape(-1)
        if values.ndim == 2 and values.shape[0] < values.shape[1]:
            # (leads, samples), as many tools save it: refused with the fix, rather than read as a few samples
            raise RecordError(path, "bad_shape", f"shape {tuple(values.shape)} looks like (leads, samples); "
                                                 f"expected (samples, leads): save its transpose (np.save(path, "
                                                 f"x.T)), then choose the lead with --column")
        values = values.reshape(-1, 1) if values.ndim == 1 else values
        names = [""] * values.shape[1] if values.ndim == 2 else []
    elif path.suffix.lower() == ".csv":
        values, names = _read_csv(path)
    else:
        raise RecordError(path, "bad_signal", f"unknown signal file type {path.suffix!r}; expected "
                                              f"{list(SIGNAL_SUFFIXES)} (WFDB and EDF records: --record)")
    if values.ndim != 2 or values.shape[0] < 2:
        raise RecordError(path, "bad_shape", f"expected one lead as a 1-D array or a (samples, leads) table, "
                                             f"got shape {tuple(values.shape)}")
    if column is not None:
        index = _find(names, column)
        if index is None:
            try:
                index = int(column)
            except ValueError:
                index = None
        if index is None or not 0 <= index < values.shape[1]:
            raise RecordError(path, "missing_lead", f"no column {column!r} (columns: "
                                                    f"{names if any(names) else values.shape[1]})")
        values, names = values[:, index:index + 1], [names[index]]
    elif values.shape[1] > 1 and not any(names):
        raise RecordError(path, "bad_shape", f"{values.shape[1]} columns (shape {tuple(values.shape)}): choose the "
                                             f"lead with --column (columns: {names if any(names) else 'unnamed'})")
    index, overridden = choose_lead(names, model_lead, lead, path)
    signal = (values[:, index] * scale).astype(np.float32)
    return LeadSignal(signal, fs, names[index], tuple(names), str(path), model_lead, overridden)


def read_edf(path, *, lead=None, model_lead=None) -> LeadSignal:
    """:class:`LeadSignal` of an EDF/EDF+ file through wfdb's EDF reader (lead names, rate and units
    from its header)."""
    import contextlib
    import io

    from wfdb.io.convert.edf import read_edf as wfdb_read_edf

    path = Path(path)
    if not path.is_file():
        raise RecordError(path, "missing_file", "no such file")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            record = wfdb_read_edf(str(path))
    except Exception as exc:  # noqa: BLE001 - wfdb raises many kinds on a corrupt file
        raise RecordError(path, "bad_header", f"cannot read the EDF file ({type(exc).__name__}: {exc})") from None
    names = [str(n).strip() for n in (record.sig_name or [])]
    index, overridden = choose_lead(names, model_lead, lead, path)
    unit = str((record.units or [""] * len(names))[index] or "mV").strip()
    if unit.lower() not in UNIT_TO_MV:
        raise RecordError(path, "bad_units", f"lead {names[index]!r} is in {unit!r}; expected mV, uV or V")
    fs = float(np.atleast_1d(record.fs)[0])
    signal = np.asarray(record.p_signal[:, index], np.float64) * UNIT_TO_MV[unit.lower()]
    # EDF stores whole data records: writers (wfdb's wfdb_to_edf among them) fill the last one with
    # the digital minimum. A trailing run at the signal's minimum is that filling, not ECG.
    if signal.size:
        kept = np.flatnonzero(signal != signal.min())
        end = int(kept[-1]) + 1 if kept.size else signal.size
        if signal.size - end > 1:
            signal = signal[:end]
    return LeadSignal(signal.astype(np.float32), fs, names[index], tuple(names), str(path), model_lead, overridden)


def read_input(path, *, fs=None, column=None, units=None, lead=None, model_lead=None) -> LeadSignal:
    """:class:`LeadSignal` of a WFDB record, an EDF file or a ``.npy``/``.csv`` signal file, by extension.
    ``fs``, ``column`` and ``units`` belong to signal files: a record states them in its header."""
    suffix = Path(str(path)).suffix.lower()
    if suffix in SIGNAL_SUFFIXES:
        return read_signal_file(path, fs, column=column, units=units, lead=lead, model_lead=model_lead)
    given = [name for name, value in (("--fs", fs), ("--column", column), ("--units", units)) if value is not None]
    if given:
        raise RecordError(path, "bad_input", f"{', '.join(given)} apply to .npy/.csv signal files; a WFDB or EDF "
                                             "record states its rate, leads and units in its header")
    if suffix in EDF_SUFFIXES:
        return read_edf(path, lead=lead, model_lead=model_lead)
    return read_record(path, lead=lead, model_lead=model_lead)

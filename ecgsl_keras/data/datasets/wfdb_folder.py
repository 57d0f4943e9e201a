"""Any WFDB folder ("your own data"), and the WFDB reading pieces every PhysioNet reader shares.

Shared pieces (used by ``cinc2017``, ``mitdb``, ``apnea_ecg`` and ``ptbxl``):

- ``DatasetReader``: the common reader interface (``record_ids``, ``load``, ``labels_for``,
  iteration that skips and counts bad records in ``.skipped``).
- ``read_wfdb_signal``: header checks, lead selection, file checks (missing, truncated, ``.mat``
  without its variable), then ``wfdb.rdrecord`` in physical units, as float32 millivolts.
- ``read_label_csv``: ``record,label`` CSV files with or without a header line.

``WfdbFolderReader`` reads any folder of WFDB records; labels come from a CSV (``record,label``,
header optional, several labels of one record separated by ``;``) or from the ``# Dx:`` header
comment that PhysioNet/CinC 2020-2021 records carry (comma separated SNOMED CT codes).
"""
from __future__ import annotations

import csv
import logging
import math
import os
import re
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.data.datasets.base import Record, SkipCounter, iterate_skipping
from ecgsl_keras.errors import LabelError, RecordError

log = logging.getLogger(__name__)

# Lead argument meaning "keep every lead of the record, in file order".
ALL_LEADS = "all"

# Bytes per sample of the WFDB storage formats we can size-check (others are read unchecked).
_BYTES_PER_SAMPLE = {"8": 1.0, "16": 2.0, "24": 3.0, "32": 4.0, "61": 2.0, "80": 1.0, "160": 2.0,
                     "212": 1.5, "310": 4.0 / 3.0, "311": 4.0 / 3.0}
# Highest sampling rate a header may declare (Hz); WFDB files of ECG are at most a few kHz.
MAX_HEADER_FS = 100_000.0
# A signal file may be this much longer than its header's format and sample count need (trailing
# bytes); a wrong format (8 for a 16-bit file, 212 for 16, ...) makes it at least 4/3 as long.
_SIZE_SLACK = 1.2
_UNSIGNED_INT = re.compile(r"\d+")
_DECIMAL = re.compile(r"\d+(\.\d*)?|\.\d+")
# The variable PhysioNet challenge ``.mat`` files hold the signal in.
MAT_VARIABLE = "val"
# First cells (lower case) that mark a label CSV's header line.
_HEADER_RECORD_NAMES = {"record", "records", "record_id", "record_name", "recording", "id", "name", "file", "filename"}
_HEADER_LABEL_NAMES = {"label", "labels", "class", "dx", "rhythm", "diagnosis", "target"}
# Several labels of one record in a CSV cell.
MULTI_LABEL_SEPARATOR = ";"


# --- reading one record ------------------------------------------------------------------------

# Scale from a header's physical unit to millivolts.
UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "μv": 1e-3, "microvolt": 1e-3, "microvolts": 1e-3, "v": 1e3}


def header_path(base) -> Path:
    return Path(f"{base}.hea")


def read_header(base):
    """``wfdb.rdheader`` with checks; ``RecordError`` naming the ``.hea`` for a missing or corrupt header."""
    import wfdb

    hea = header_path(base)
    if not hea.is_file():
        raise RecordError(hea, "missing_file", "header file not found")
    declared_fs = check_record_line(hea)
    try:
        header = wfdb.rdheader(str(base))
    except Exception as exc:  # wfdb raises HeaderSyntaxError, IndexError, ValueError ... on bad text
        raise RecordError(hea, "bad_header", f"cannot parse header ({type(exc).__name__}: {exc})") from None
    fs = header.fs
    if not isinstance(fs, (int, float)) or not math.isfinite(fs) or fs <= 0:
        raise RecordError(hea, "bad_header", f"sampling frequency {fs!r} is not a positive number")
    if declared_fs is not None and not math.isclose(float(fs), declared_fs, rel_tol=1e-9):
        raise RecordError(hea, "bad_header", f"sampling frequency field reads {declared_fs:g} Hz but wfdb "
                                             f"parsed {fs!r}")
    if not header.n_sig or not header.file_name or len(header.file_name) != header.n_sig:
        raise RecordError(hea, "bad_header", f"header declares {header.n_sig!r} signals but lists "
                                             f"{len(header.file_name or [])} signal lines")
    if not header.sig_len or header.sig_len <= 0:
        raise RecordError(hea, "bad_header", f"signal length {header.sig_len!r} is not a positive number")
    return header


def check_record_line(hea: Path):
    """Check the header's record line (``name[/segments] n_signals [fs[/counter][(base)] [n_samples ...]]``)
    before wfdb reads it: wfdb puts its default 250 Hz in place of a rate it cannot parse (``-1``) and reads
    ``1e9`` as 1 Hz. Returns the declared rate (None when the line gives none: WFDB's default applies)."""
    try:
        text = hea.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise RecordError(hea, "bad_header", f"cannot read header ({exc.strerror or exc})") from None
    line = next((row for row in text.splitlines() if row.strip() and not row.lstrip().startswith("#")), None)
    if line is None:
        raise RecordError(hea, "bad_header", "header has no record line")
    fields = line.split()
    if len(fields) < 2 or not _UNSIGNED_INT.fullmatch(fields[1]):
        raise RecordError(hea, "bad_header", f"record line {line.strip()!r}: number of signals "
                                             f"{fields[1] if len(fields) > 1 else '(none)'!r} is not a whole number")
    if len(fields) < 3:
        return None
    rate = re.split(r"[/(]", fields[2], maxsplit=1)[0]
    if not _DECIMAL.fullmatch(rate) or not 0 < float(rate) <= MAX_HEADER_FS:
        raise RecordError(hea, "bad_header", f"sampling frequency {fields[2]!r} is not a rate in Hz between 0 and "
                                             f"{MAX_HEADER_FS:g}")
    if len(fields) > 3 and not _UNSIGNED_INT.fullmatch(fields[3]):
        raise RecordError(hea, "bad_header", f"number of samples {fields[3]!r} is not a whole number")
    return float(rate)


def select_channels(header, lead, hea_path) -> list:
    """Channel indices for ``lead``: None = first, ``"all"`` = every lead, an int = that index,
    a name = that lead (case-insensitive, e.g. ``aVR`` = ``AVR``)."""
    names = list(header.sig_name or [])
    if lead is None:
        return [0]
    if isinstance(lead, str) and lead.lower() == ALL_LEADS:
        return list(range(header.n_sig))
    if isinstance(lead, (int, np.integer)) and not isinstance(lead, bool):
        if not 0 <= int(lead) < header.n_sig:
            raise RecordError(hea_path, "missing_lead", f"lead index {lead} out of range (leads: {names})")
        return [int(lead)]
    lowered = [str(name).lower() for name in names]
    try:
        return [lowered.index(str(lead).lower())]
    except ValueError:
        raise RecordError(hea_path, "missing_lead", f"lead {lead!r} not in record (leads: {names})") from None


def _check_signal_file(path: Path, header, hea: Path, channels_in_file: int) -> None:
    """Missing file, ``.mat`` without its variable or with the wrong shape, file shorter than the header says."""
    if not path.is_file():
        raise RecordError(path, "missing_file", f"signal file not found (named by {hea.name})")
    indices = [i for i, name in enumerate(header.file_name) if name == path.name]
    fmt = str(header.fmt[indices[0]]) if header.fmt else "16"
    offset = int((header.byte_offset or [None] * header.n_sig)[indices[0]] or 0)
    if path.suffix.lower() == ".mat":
        import scipy.io

        try:
            variables = dict((name, shape) for name, shape, _ in scipy.io.whosmat(str(path)))
        except Exception as exc:
            raise RecordError(path, "bad_mat", f"not a readable MATLAB file ({type(exc).__name__}: {exc})") from None
        if MAT_VARIABLE not in variables:
            raise RecordError(path, "bad_mat", f"no variable {MAT_VARIABLE!r} in the .mat file "
                                               f"(found: {sorted(variables)})")
        expected = (channels_in_file, header.sig_len)
        if tuple(variables[MAT_VARIABLE]) != expected:
            raise RecordError(path, "bad_mat", f"variable {MAT_VARIABLE!r} is {variables[MAT_VARIABLE]} but "
                                               f"{hea.name} declares {expected[0]} signals x {expected[1]} samples")
    bytes_per_sample = _BYTES_PER_SAMPLE.get(fmt)
    if bytes_per_sample is not None:
        needed = offset + int(math.ceil(header.sig_len * channels_in_file * bytes_per_sample))
        size = os.path.getsize(path)
        if size < needed:
            raise RecordError(path, "truncated", f"file holds {size} bytes but {hea.name} declares "
                                                 f"{header.sig_len} samples x {channels_in_file} signals "
                                                 f"(format {fmt}: {needed} bytes)")
        frame = int(math.ceil(channels_in_file * bytes_per_sample))
        if size - offset > _SIZE_SLACK * (needed - offset) + frame:
            raise RecordError(path, "bad_header", f"file holds {size} bytes but {hea.name} declares "
                                                  f"{header.sig_len} samples x {channels_in_file} signals in format "
                                                  f"{fmt} ({needed} bytes): the header's format or sample count "
                                                  "does not match the file")


def read_wfdb_signal(base, *, lead=None, sampfrom: int = 0, sampto: Optional[int] = None, header=None):
    """Read one WFDB record: ``(signal float32 mV (n, leads), fs, lead_names, header)``.

    Every problem raises ``RecordError`` naming the file: missing/corrupt header (``bad_header``),
    missing signal file (``missing_file``), truncated file (``truncated``), ``.mat`` without
    its ``val`` variable (``bad_mat``), unknown lead (``missing_lead``), unreadable samples (``bad_signal``).
    """
    import wfdb

    hea = header_path(base)
    header = header if header is not None else read_header(base)
    channels = select_channels(header, lead, hea)
    files = []
    for index in channels:
        name = header.file_name[index]
        if name not in files:
            files.append(name)
    for name in files:
        _check_signal_file(Path(base).parent / name, header, hea, header.file_name.count(name))
    sampto = header.sig_len if sampto is None else min(int(sampto), header.sig_len)
    if not 0 <= sampfrom < sampto:
        raise RecordError(hea, "bad_range", f"sample range [{sampfrom}, {sampto}) is empty "
                                            f"(record has {header.sig_len} samples)")
    try:
        record = wfdb.rdrecord(str(base), channels=channels, sampfrom=int(sampfrom), sampto=int(sampto),
                               physical=True, return_res=32)
    except Exception as exc:
        raise RecordError(Path(base).parent / files[0], "bad_signal",
                          f"cannot read samples ({type(exc).__name__}: {exc})") from None
    signal = np.asarray(record.p_signal, dtype=np.float32)
    if signal.ndim != 2 or signal.shape != (sampto - sampfrom, len(channels)):
        raise RecordError(Path(base).parent / files[0], "bad_signal",
                          f"read {signal.shape} samples, expected {(sampto - sampfrom, len(channels))}")
    # the project's unit is mV; a unit it does not know (or none) is taken as mV
    units = [str(u or "").strip().lower() for u in (record.units or [])]
    scale = np.asarray([UNIT_TO_MV.get(u, 1.0) for u in units] or [1.0], np.float32)
    if np.any(scale != 1.0):
        signal = signal * scale[None, : signal.shape[1]] if scale.size == signal.shape[1] else signal * scale[0]
    lead_names = tuple(str(header.sig_name[i]) for i in channels)
    return signal, float(header.fs), lead_names, header


# --- label files -------------------------------------------------------------------------------

def _is_header_row(row) -> bool:
    first = row[0].strip().lower()
    second = row[1].strip().lower() if len(row) > 1 else ""
    return first in _HEADER_RECORD_NAMES or second in _HEADER_LABEL_NAMES


def strip_record_name(name: str) -> str:
    """``A00001.mat`` / ``A00001.hea`` / ``A00001`` -> ``A00001``."""
    name = name.strip()
    for ext in (".hea", ".mat", ".dat"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def read_label_csv(path, known_labels=None, multi_separator: Optional[str] = None) -> dict:
    """``record -> tuple of labels`` from a ``record,label`` CSV, header line optional, order kept.

    Raises ``LabelError`` naming the file for: a missing file, text that is not UTF-8 (or UTF-16 with its
    byte-order mark), a file listing no record, a line without a label, a record
    listed twice, a label outside ``known_labels`` (when given).
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(path, "missing_file", "label file not found")
    labels = {}
    raw = path.read_bytes()
    # UTF-16 (a spreadsheet's "Unicode text") is recognised by its byte-order mark; anything else must be UTF-8.
    encoding = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise LabelError(path, "bad_label_file", f"not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start}); "
                                                 "save it as UTF-8") from None
    rows = [(n, row) for n, row in enumerate(csv.reader(text.splitlines()), start=1)
            if row and row[0].strip() and not row[0].lstrip().startswith("#")]
    record_col, label_col = 0, 1
    if rows and _is_header_row(rows[0][1]):
        header = [cell.strip().lower() for cell in rows[0][1]]
        record_col = next((i for i, c in enumerate(header) if c in _HEADER_RECORD_NAMES), 0)
        label_col = next((i for i, c in enumerate(header) if c in _HEADER_LABEL_NAMES), 1)
        rows = rows[1:]
    known = None if known_labels is None else tuple(known_labels)
    for line, row in rows:
        if len(row) <= max(record_col, label_col) or not row[label_col].strip():
            raise LabelError(path, "bad_label_file", f"line {line}: expected 'record,label', got {','.join(row)!r}")
        record_id = strip_record_name(row[record_col])
        cell = row[label_col].strip()
        values = [v.strip() for v in cell.split(multi_separator)] if multi_separator else [cell]
        values = tuple(dict.fromkeys(v for v in values if v))
        if known is not None:
            for value in values:
                if value not in known:
                    raise LabelError(path, "unknown_label", f"line {line}: record {record_id} has unknown label "
                                                            f"{value!r} (known: {list(known)})")
        if record_id in labels:
            raise LabelError(path, "duplicate_record", f"line {line}: record {record_id} is listed twice")
        labels[record_id] = values
    if not labels:
        raise LabelError(path, "bad_label_file", "lists no record (expected 'record,label' lines)")
    return labels


def read_records_file(path) -> list:
    """Record names of a PhysioNet ``RECORDS`` file (one a line), order kept."""
    with open(path, encoding="utf-8") as fh:
        return [line.strip() for line in fh if line.strip() and not line.startswith("#")]


def check_data_dir(data_dir) -> Path:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise RecordError(data_dir, "missing_file", "data folder not found")
    return data_dir


# --- the common reader interface ---------------------------------------------------------------

class DatasetReader:
    """What every reader offers. Subclasses set ``name``, ``task`` and implement ``_all_record_ids``,
    ``_label_source`` and ``load``.

    ``records`` restricts (and orders) the ids; an id the data set does not have fails on ``load``
    with reason ``missing_record`` (so iteration skips and counts it). ``lead`` None means the
    data set's default lead (``default_lead``).
    """

    name = "wfdb"
    default_lead = None
    task = None

    def __init__(self, data_dir, *, records=None, lead=None):
        self.data_dir = check_data_dir(data_dir)
        self.lead = self.default_lead if lead is None else lead
        self._requested = None if records is None else [str(r) for r in records]
        self._ids = None
        self.skipped = SkipCounter()

    # subclasses -------------------------------------------------------------------------------
    def _all_record_ids(self) -> list:
        raise NotImplementedError

    def _label_source(self) -> Path:
        """The file that lists the records (named in ``missing_record`` errors)."""
        return self.data_dir

    def load(self, record_id: str) -> Record:
        raise NotImplementedError

    # shared by the readers of PhysioNet folders listed by a RECORDS file ----------------------
    def _records_file(self) -> Path:
        return self.data_dir / "RECORDS"

    def _listed_record_ids(self) -> list:
        """The names in ``RECORDS`` when the folder has one, else every ``.hea`` file's name."""
        if self._records_file().is_file():
            return read_records_file(self._records_file())
        return sorted(p.stem for p in self.data_dir.glob("*.hea"))

    def _records_file_or_folder(self) -> Path:
        return self._records_file() if self._records_file().is_file() else self.data_dir

    def labels_for(self, record_id: str) -> tuple:
        """The labels ``load`` puts in ``Record.labels``, read without the signal."""
        self._check_known(record_id)
        return ()

    # common -----------------------------------------------------------------------------------
    def _known_ids(self) -> list:
        if self._ids is None:
            self._ids = list(self._all_record_ids())
            self._id_set = set(self._ids)
        return self._ids

    def _check_known(self, record_id: str) -> None:
        self._known_ids()
        if record_id not in self._id_set:
            raise LabelError(self._label_source(), "missing_record",
                             f"record {record_id!r} is not part of this {self.name} data set")

    def _missing_record(self, record_id: str, missing: Path) -> LabelError:
        return LabelError(self._label_source(), "missing_record",
                          f"record {record_id!r} is listed but {missing} does not exist")

    def record_ids(self) -> list:
        ids = self._known_ids()
        return list(ids) if self._requested is None else list(self._requested)

    def __iter__(self) -> Iterator[Record]:
        """Records one at a time; bad ones are skipped and counted by reason in ``self.skipped``."""
        self.skipped = SkipCounter()
        return iterate_skipping(self.load, self.record_ids(), self.skipped)

    def __len__(self) -> int:
        return len(self.record_ids())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.data_dir)!r}, lead={self.lead!r})"


def find_header_records(data_dir: Path) -> list:
    """Record ids of every ``.hea`` under ``data_dir`` (relative paths without extension, sorted)."""
    return sorted(p.relative_to(data_dir).with_suffix("").as_posix() for p in data_dir.rglob("*.hea"))


def read_dx(hea_path: Path) -> tuple:
    """Codes of the ``# Dx: a,b,c`` header comment (PhysioNet/CinC 2020-2021), () when absent."""
    try:
        with open(hea_path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                text = line.strip()
                if text.startswith("#") and text[1:].strip().lower().startswith("dx:"):
                    codes = text[1:].strip()[3:]
                    return tuple(dict.fromkeys(code.strip() for code in codes.split(",") if code.strip()))
    except FileNotFoundError:
        raise RecordError(hea_path, "missing_file", "header file not found") from None
    return ()


class WfdbFolderReader(DatasetReader):
    """Any folder of WFDB records (searched recursively, or listed in a ``RECORDS`` file).

    Labels: ``labels_csv`` (``record,label``; header optional; several labels separated by ``;``)
    or, without a CSV, the ``# Dx:`` header comments. The task is built from the labels seen
    (``tasks.task_from_labels``): multilabel for ``Dx`` codes or when a record has several
    labels, multiclass otherwise; pass ``label_names`` to fix the label space (other labels are
    then a ``LabelError``). ``lead``: None = first lead, a name, an index or ``"all"``.
    """

    name = "wfdb"

    def __init__(self, data_dir, *, records=None, lead=None, labels_csv=None, label_names=None,
                 task_name: str = "wfdb", multilabel: Optional[bool] = None):
        super().__init__(data_dir, records=records, lead=lead)
        self.labels_csv = Path(labels_csv) if labels_csv else None
        self.label_names = None if label_names is None else tuple(label_names)
        self.task_name = task_name
        self._multilabel = multilabel
        self._csv_labels = None
        if self.labels_csv is not None:
            self._csv_labels = read_label_csv(self.labels_csv, known_labels=self.label_names,
                                              multi_separator=MULTI_LABEL_SEPARATOR)
        self._dx_cache = {}
        self._task = None

    def _label_source(self) -> Path:
        if self.labels_csv is not None:
            return self.labels_csv
        records_file = self.data_dir / "RECORDS"
        return records_file if records_file.is_file() else self.data_dir

    def _all_record_ids(self) -> list:
        if self._csv_labels is not None:
            return list(self._csv_labels)
        records_file = self.data_dir / "RECORDS"
        if records_file.is_file():
            return [strip_record_name(r) for r in read_records_file(records_file)]
        return find_header_records(self.data_dir)

    def _dx(self, record_id: str) -> tuple:
        if record_id not in self._dx_cache:
            codes = read_dx(header_path(self.data_dir / record_id))
            if self.label_names is not None:
                for code in codes:
                    if code not in self.label_names:
                        raise LabelError(header_path(self.data_dir / record_id), "unknown_label",
                                         f"Dx code {code!r} not in the given label names")
            self._dx_cache[record_id] = codes
        return self._dx_cache[record_id]

    def labels_for(self, record_id: str) -> tuple:
        self._check_known(record_id)
        if self._csv_labels is not None:
            return self._csv_labels[record_id]
        if not header_path(self.data_dir / record_id).is_file():
            raise self._missing_record(record_id, header_path(self.data_dir / record_id))
        return self._dx(record_id)

    @property
    def task(self):
        """Label space from the labels seen (reads every header once when labels are Dx codes)."""
        if self._task is None:
            if self._csv_labels is not None:
                per_record = list(self._csv_labels.values())
                from_dx = False
            else:
                per_record = []
                for record_id in self._known_ids():
                    if header_path(self.data_dir / record_id).is_file():
                        per_record.append(self._dx(record_id))
                from_dx = True
            seen = self.label_names if self.label_names is not None else [v for labels in per_record for v in labels]
            multilabel = self._multilabel
            if multilabel is None:
                multilabel = (from_dx and any(per_record)) or any(len(labels) > 1 for labels in per_record)
            kind = tasks_lib.MULTILABEL if multilabel else tasks_lib.MULTICLASS
            self._task = tasks_lib.task_from_labels(self.task_name, seen, kind=kind)
        return self._task

    def load(self, record_id: str) -> Record:
        self._check_known(record_id)
        base = self.data_dir / record_id
        if not header_path(base).is_file():
            raise self._missing_record(record_id, header_path(base))
        labels = self.labels_for(record_id)
        signal, fs, lead_names, header = read_wfdb_signal(base, lead=self.lead)
        return Record(record_id=record_id, signal=signal, fs=fs, lead_names=lead_names, source=self.name,
                      path=str(header_path(base)), labels=tuple(labels),
                      metadata={"comments": list(header.comments or [])})

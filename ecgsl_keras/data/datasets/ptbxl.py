"""PTB-XL: 10 s 12-lead ECGs at 100 Hz (``records100/``) and 500 Hz (``records500/``).

Files: ``ptbxl_database.csv`` (one row per ``ecg_id``: ``scp_codes`` dict of SCP code ->
likelihood, ``strat_fold`` 1-10, ``patient_id``, ``filename_lr`` / ``filename_hr``) and
``scp_statements.csv`` (SCP code -> ``diagnostic_class`` NORM, MI, STTC, CD, HYP). Labels are
the superdiagnostic classes (``tasks.ptbxl_superclasses``; multi-label). The benchmark protocol
(Strodthoff et al. 2020): folds 1-8 train, 9 validation, 10 test; records without any
superdiagnostic statement are left out of that task, as here by default (``drop_unlabelled``).

    reader = PtbxlReader("ptbxl", rate=100, lead="II", folds=[9])
    record = reader.load("1")      # ecg_id as a string; record.labels == ("NORM",)
"""
from __future__ import annotations

import ast
import logging
from pathlib import Path

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.data.datasets.base import Record
from ecgsl_keras.data.datasets.wfdb_folder import DatasetReader, header_path, read_wfdb_signal
from ecgsl_keras.errors import ConfigError, LabelError, RecordError

log = logging.getLogger(__name__)

DATABASE_FILE = "ptbxl_database.csv"
STATEMENTS_FILE = "scp_statements.csv"
RATE_COLUMNS = {100: "filename_lr", 500: "filename_hr"}
_REQUIRED_COLUMNS = ("patient_id", "scp_codes", "strat_fold", "filename_lr", "filename_hr")


def read_scp_statements(path) -> dict:
    """Diagnostic SCP code -> its ``diagnostic_class``."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise LabelError(path, "missing_file", "SCP statements file not found")
    try:
        table = pd.read_csv(path, index_col=0)
    except Exception as exc:
        raise LabelError(path, "bad_label_file", f"cannot parse CSV ({type(exc).__name__}: {exc})") from None
    missing = [c for c in ("diagnostic", "diagnostic_class") if c not in table.columns]
    if missing:
        raise LabelError(path, "bad_label_file", f"missing columns {missing}")
    diagnostic = table[table["diagnostic"] == 1]
    return {str(code): str(cls) for code, cls in diagnostic["diagnostic_class"].items() if isinstance(cls, str)}


def read_database(path):
    """``ptbxl_database.csv`` as a DataFrame indexed by ``ecg_id`` with ``scp_codes`` parsed to dicts."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise LabelError(path, "missing_file", "PTB-XL database file not found")
    try:
        table = pd.read_csv(path, index_col="ecg_id")
    except Exception as exc:
        raise LabelError(path, "bad_label_file", f"cannot parse CSV with an ecg_id column "
                                                 f"({type(exc).__name__}: {exc})") from None
    missing = [c for c in _REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise LabelError(path, "bad_label_file", f"missing columns {missing}")
    parsed = []
    for ecg_id, text in table["scp_codes"].items():
        try:
            codes = ast.literal_eval(text)
            if not isinstance(codes, dict):
                raise ValueError("not a dict")
        except (ValueError, SyntaxError) as exc:
            raise LabelError(path, "bad_label_file", f"ecg_id {ecg_id}: scp_codes {text!r} is not a dict "
                                                     f"({exc})") from None
        parsed.append(codes)
    table = table.copy()
    table["scp_codes"] = parsed
    return table


class PtbxlReader(DatasetReader):
    """PTB-XL records, superdiagnostic multi-label task (``tasks.PTBXL_SUPERDIAGNOSTIC``).

    ``rate``: 100 (``filename_lr``) or 500 (``filename_hr``). ``lead`` defaults to ``"II"``
    (``"all"`` for the 12 leads). ``folds``: keep only these ``strat_fold`` values.
    ``drop_unlabelled``: leave out records without a superdiagnostic class (benchmark protocol).
    """

    name = "ptbxl"
    default_lead = "II"
    task = tasks_lib.PTBXL_SUPERDIAGNOSTIC

    def __init__(self, data_dir, *, records=None, lead=None, rate: int = 100, folds=None,
                 drop_unlabelled: bool = True):
        super().__init__(data_dir, records=records, lead=lead)
        if rate not in RATE_COLUMNS:
            raise ConfigError(f"ptbxl: rate must be one of {sorted(RATE_COLUMNS)}, got {rate!r}")
        self.rate = int(rate)
        self.folds = None if folds is None else tuple(int(f) for f in folds)
        if self.folds is not None and not all(1 <= f <= 10 for f in self.folds):
            raise ConfigError(f"ptbxl: folds must be within 1-10, got {list(self.folds)}")
        self.drop_unlabelled = bool(drop_unlabelled)
        self.database_path = self.data_dir / DATABASE_FILE
        self.statements_path = self.data_dir / STATEMENTS_FILE
        self._scp_to_class = read_scp_statements(self.statements_path)
        table = read_database(self.database_path)
        self._rows = {}
        unlabelled = 0
        for ecg_id, row in table.sort_index().iterrows():
            labels = tuple(tasks_lib.ptbxl_superclasses(row["scp_codes"], self._scp_to_class))
            fold = int(row["strat_fold"])
            if self.folds is not None and fold not in self.folds:
                continue
            if self.drop_unlabelled and not labels:
                unlabelled += 1
                continue
            patient = row["patient_id"]
            self._rows[str(int(ecg_id))] = {
                "labels": labels,
                "strat_fold": fold,
                "patient_id": int(patient) if patient == patient else None,
                "age": float(row["age"]) if "age" in row and row["age"] == row["age"] else None,
                "sex": int(row["sex"]) if "sex" in row and row["sex"] == row["sex"] else None,
                "scp_codes": dict(row["scp_codes"]),
                "filename": str(row[RATE_COLUMNS[self.rate]]),
            }
        if unlabelled:
            log.info("ptbxl: left out %d records without a superdiagnostic statement", unlabelled)

    def _all_record_ids(self) -> list:
        return list(self._rows)

    def _label_source(self) -> Path:
        return self.database_path

    def labels_for(self, record_id: str) -> tuple:
        self._check_known(record_id)
        return self._rows[record_id]["labels"]

    def metadata_for(self, record_id: str) -> dict:
        """``strat_fold``, ``patient_id``, ``age``, ``sex``, ``scp_codes``, ``filename``, ``rate``."""
        self._check_known(record_id)
        row = self._rows[record_id]
        out = {k: v for k, v in row.items() if k != "labels"}
        out["scp_codes"] = dict(row["scp_codes"])
        out["rate"] = self.rate
        return out

    def load(self, record_id: str) -> Record:
        self._check_known(record_id)
        row = self._rows[record_id]
        base = self.data_dir / row["filename"]
        if not header_path(base).is_file():
            raise self._missing_record(record_id, header_path(base))
        signal, fs, lead_names, _ = read_wfdb_signal(base, lead=self.lead)
        if abs(fs - self.rate) > 1e-6:
            raise RecordError(header_path(base), "bad_rate", f"header says {fs:g} Hz but rate={self.rate} was asked")
        return Record(record_id=record_id, signal=signal, fs=fs, lead_names=lead_names, source=self.name,
                      path=str(header_path(base)), labels=row["labels"], metadata=self.metadata_for(record_id))

"""Apnea-ECG Database: overnight single-lead ECG (100 Hz) with one apnea label per minute.

Files: ``NNN.hea`` + ``NNN.dat`` (format 16, 200 adu/mV); ``NNN.apn`` per-minute annotations
(symbol ``N`` normal breathing or ``A`` apnea/hypopnea at the start of each minute) for the
35 learning-set records a01-a20, b01-b05, c01-c10; ``event-2-answers`` holds the same per-minute
labels for the 35 withheld records x01-x35 (a record name line, then lines of an hour index and
up to 60 letters); ``event-1-answers`` the record classes (A apnea, B borderline, C control).

Minute labels are read without the signal by ``minute_labels_for``. ``load`` needs the ``.dat``
(missing: ``RecordError`` reason ``missing_file`` naming it) and keeps the labels of the minutes
the signal covers in full (``Record.minute_labels``).

The ``RECORDS`` file also lists the respiration recordings (``a01r``, ``a01er`` ...); they are
other channels of the same nights and carry no labels of their own, so they are left out.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import numpy as np

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.data.datasets.base import Record
from ecgsl_keras.data.datasets.wfdb_folder import DatasetReader, header_path, read_header, read_wfdb_signal
from ecgsl_keras.errors import LabelError

MINUTE_S = 60
APNEA_ANNOTATION_EXTENSION = "apn"
EVENT_2_ANSWERS = "event-2-answers"
EVENT_1_ANSWERS = "event-1-answers"
# ECG records only: a01..c10, x01..x35 (not the a01r / a01er respiration recordings).
_ECG_RECORD = re.compile(r"^[a-z]\d+$")


def parse_event2_answers(path) -> dict:
    """``record -> tuple of per-minute labels`` from an Apnea-ECG ``event-2-answers`` file."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(path, "missing_file", "answers file not found")
    known = tasks_lib.APNEA.label_names
    answers, record, minutes, next_hour = {}, None, [], 0
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            parts = text.split()
            if len(parts) == 1 and not parts[0].isdigit():
                if record is not None:
                    answers[record] = tuple(minutes)
                record, minutes, next_hour = parts[0], [], 0
                if record in answers:
                    raise LabelError(path, "duplicate_record", f"line {line_no}: record {record} is listed twice")
                continue
            if record is None or len(parts) != 2 or not parts[0].isdigit():
                raise LabelError(path, "bad_label_file", f"line {line_no}: expected 'hour letters' after a record "
                                                         f"name, got {text!r}")
            hour, letters = int(parts[0]), parts[1]
            if hour != next_hour:
                raise LabelError(path, "bad_label_file", f"line {line_no}: record {record} hour {hour}, "
                                                         f"expected {next_hour}")
            if len(letters) > 60:
                raise LabelError(path, "bad_label_file", f"line {line_no}: {len(letters)} minutes in one hour")
            unknown = sorted(set(letters) - set(known))
            if unknown:
                raise LabelError(path, "unknown_label", f"line {line_no}: record {record} has unknown minute "
                                                        f"labels {unknown} (known: {list(known)})")
            minutes.extend(letters)
            next_hour += 1
    if record is not None:
        answers[record] = tuple(minutes)
    return answers


def parse_event1_answers(path) -> dict:
    """``record -> class letter`` (A apnea, B borderline, C control) from ``event-1-answers``."""
    out = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 2:
                out[parts[0]] = parts[1]
    return out


class ApneaEcgReader(DatasetReader):
    """Apnea-ECG records (task ``tasks.APNEA``, one label per minute in ``Record.minute_labels``)."""

    name = "apnea-ecg"
    task = tasks_lib.APNEA

    def __init__(self, data_dir, *, records=None, lead=None, answers=None):
        super().__init__(data_dir, records=records, lead=lead)
        self.answers_path = Path(answers) if answers is not None else self.data_dir / EVENT_2_ANSWERS
        self._answers = None

    def _label_source(self) -> Path:
        return self._records_file_or_folder()

    def _all_record_ids(self) -> list:
        # RECORDS also lists the respiration recordings (a01r, a01er): keep the ECG ones
        return [name for name in self._listed_record_ids() if _ECG_RECORD.match(name)]

    def _event2(self) -> dict:
        if self._answers is None:
            self._answers = parse_event2_answers(self.answers_path) if self.answers_path.is_file() else {}
        return self._answers

    def _apn_labels(self, record_id: str) -> Optional[tuple]:
        import wfdb

        base = self.data_dir / record_id
        path = Path(f"{base}.{APNEA_ANNOTATION_EXTENSION}")
        if not path.is_file():
            return None
        try:
            ann = wfdb.rdann(str(base), APNEA_ANNOTATION_EXTENSION)
        except Exception as exc:
            raise LabelError(path, "bad_annotations", f"cannot read annotations ({type(exc).__name__}: {exc})") from None
        fs = float(ann.fs or 100.0)
        samples = np.asarray(ann.sample, dtype=np.int64)
        expected = np.arange(len(samples)) * int(round(MINUTE_S * fs))
        if not np.array_equal(samples, expected):
            bad = int(np.flatnonzero(samples != expected)[0])
            raise LabelError(path, "bad_annotations", f"annotation {bad} at sample {samples[bad]}, expected one "
                                                      f"label per minute (sample {expected[bad]})")
        unknown = sorted(set(ann.symbol) - set(self.task.label_names))
        if unknown:
            raise LabelError(path, "unknown_label", f"unknown minute labels {unknown} "
                                                    f"(known: {list(self.task.label_names)})")
        return tuple(ann.symbol)

    def minute_labels_for(self, record_id: str) -> Optional[tuple]:
        """Per-minute labels from ``NNN.apn``, else from ``event-2-answers``; None when unlabelled.

        All the labels of the file, whatever the signal length (``load`` keeps the covered minutes).
        """
        self._check_known(record_id)
        labels = self._apn_labels(record_id)
        if labels is None:
            labels = self._event2().get(record_id)
        return labels

    def labels_for(self, record_id: str) -> tuple:
        """Record-level labels: none (Apnea-ECG is labelled per minute: ``minute_labels_for``)."""
        self._check_known(record_id)
        return ()

    def record_class(self, record_id: str) -> Optional[str]:
        """A (apnea), B (borderline) or C (control): the record name for the learning set,
        ``event-1-answers`` for the withheld x records."""
        if record_id[:1] in ("a", "b", "c"):
            return record_id[:1].upper()
        path = self.data_dir / EVENT_1_ANSWERS
        return parse_event1_answers(path).get(record_id) if path.is_file() else None

    def load(self, record_id: str) -> Record:
        self._check_known(record_id)
        base = self.data_dir / record_id
        if not header_path(base).is_file():
            raise self._missing_record(record_id, header_path(base))
        header = read_header(base)
        minute_labels = self.minute_labels_for(record_id)
        signal, fs, lead_names, header = read_wfdb_signal(base, lead=self.lead, header=header)
        metadata = {"record_class": self.record_class(record_id)}
        if minute_labels is not None:
            metadata["minutes_labelled"] = len(minute_labels)
            covered = int(signal.shape[0] // int(round(MINUTE_S * fs)))
            minute_labels = tuple(minute_labels[:covered])
        return Record(record_id=record_id, signal=signal, fs=fs, lead_names=lead_names, source=self.name,
                      path=str(header_path(base)), minute_labels=minute_labels, metadata=metadata)

"""PhysioNet/Computing in Cardiology Challenge 2017: AF classification from a short single-lead ECG.

Files: ``Annnnn.mat`` (MATLAB v4, variable ``val``) + ``Annnnn.hea`` (format ``16+24``: the
samples start 24 bytes into the ``.mat``), 300 Hz, 1000 adu/mV; ``REFERENCE.csv`` with lines
``record,label`` (N normal, A AF, O other rhythm, ~ noisy), with or without a header line.

    reader = CinC2017Reader("training2017")
    for record in reader:          # bad records are skipped, counted in reader.skipped
        record.signal              # float32 mV, (n_samples, 1), record.fs == 300
        record.labels              # ("N",)

The package ships 64 real records (``cinc2017_sample_dir()``) for the quickstart and the tests.
"""
from __future__ import annotations

from pathlib import Path

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.data.datasets.base import Record
from ecgsl_keras.data.datasets.wfdb_folder import DatasetReader, header_path, read_label_csv, read_wfdb_signal

REFERENCE_FILE = "REFERENCE.csv"


def cinc2017_sample_dir() -> Path:
    """Folder of the 64 CinC 2017 records shipped inside the package (20 N, 16 A, 16 O, 12 ~)."""
    return Path(__file__).resolve().parents[1] / "cinc2017_sample"


class CinC2017Reader(DatasetReader):
    """CinC 2017 records with their ``REFERENCE.csv`` labels (task ``tasks.CINC2017``).

    ``data_dir`` is the folder holding the records and ``REFERENCE.csv`` (the challenge's
    ``training2017/``; its parent works too). ``reference`` names another label file (e.g. the
    answers of a held-out set). An unknown label or a malformed line in the label file raises
    ``LabelError`` naming it when the reader is opened; a listed record whose files do not
    exist fails on ``load`` with reason ``missing_record``.
    """

    name = "cinc2017"
    task = tasks_lib.CINC2017

    def __init__(self, data_dir, *, records=None, lead=None, reference=None):
        data_dir = Path(data_dir)
        if reference is None and not (data_dir / REFERENCE_FILE).is_file() \
                and (data_dir / "training2017" / REFERENCE_FILE).is_file():
            data_dir = data_dir / "training2017"
        super().__init__(data_dir, records=records, lead=lead)
        self.reference_path = Path(reference) if reference is not None else self.data_dir / REFERENCE_FILE
        self._labels = read_label_csv(self.reference_path, known_labels=self.task.label_names)

    def _all_record_ids(self) -> list:
        return list(self._labels)

    def _label_source(self) -> Path:
        return self.reference_path

    def labels_for(self, record_id: str) -> tuple:
        self._check_known(record_id)
        return self._labels[record_id]

    def load(self, record_id: str) -> Record:
        self._check_known(record_id)
        base = self.data_dir / record_id
        if not header_path(base).is_file():
            raise self._missing_record(record_id, header_path(base))
        signal, fs, lead_names, _ = read_wfdb_signal(base, lead=self.lead)
        return Record(record_id=record_id, signal=signal, fs=fs, lead_names=lead_names, source=self.name,
                      path=str(header_path(base)), labels=self._labels[record_id])

"""MIT-BIH Arrhythmia Database: 2-lead 360 Hz records with beat and rhythm annotations.

Files: ``NNN.dat`` (format 212), ``NNN.hea``, ``NNN.atr`` (reference annotations). Beat
symbols are mapped to the AAMI EC57 classes by ``tasks.aami_class``; annotations that are not
beats (rhythm changes ``+``, noise ``~``, comments ...) are dropped from the beat labels. Rhythm
changes (``+`` with an aux note such as ``(AFIB``) are kept in ``Record.rhythm``.

    reader = MitdbReader("mitdb", lead="MLII", duration_s=300)
    record = reader.load("208")
    record.beat_annotations.labels   # ("N", "V", "F", ...), AAMI classes at record.fs
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.data.datasets.base import BeatAnnotations, Record
from ecgsl_keras.data.datasets.wfdb_folder import DatasetReader, header_path, read_header, read_wfdb_signal
from ecgsl_keras.errors import ConfigError, RecordError

ANNOTATION_EXTENSION = "atr"
RHYTHM_SYMBOL = "+"
# MIT-format annotation files end with a zero annotation word; a file without it was cut short.
END_OF_ANNOTATIONS = b"\x00\x00"
# The last annotation of a MIT-BIH record lies within 1 s of the signal's end; one that ends this many
# seconds earlier means the annotations stop where the signal goes on (unlabelled beats would be scored).
MAX_UNANNOTATED_TAIL_S = 10.0


def _clean_note(note) -> str:
    return str(note or "").replace("\x00", "").strip()


class MitdbReader(DatasetReader):
    """MIT-BIH Arrhythmia records (task ``tasks.MITDB_AAMI``, per-beat labels).

    Record ids come from the ``RECORDS`` file, else from the ``.hea`` files present. ``lead``
    defaults to ``"MLII"`` (record 114 stores it second; selection is by name). ``sampto``
    (samples) or ``duration_s`` read only the start of each record; annotations are cut to match.
    """

    name = "mitdb"
    default_lead = "MLII"
    task = tasks_lib.MITDB_AAMI

    def __init__(self, data_dir, *, records=None, lead=None, sampto: Optional[int] = None,
                 duration_s: Optional[float] = None, annotation_extension: str = ANNOTATION_EXTENSION):
        super().__init__(data_dir, records=records, lead=lead)
        if sampto is not None and duration_s is not None:
            raise ConfigError("mitdb: give sampto or duration_s, not both")
        for name, value in (("sampto", sampto), ("duration_s", duration_s)):
            if value is not None and value <= 0:
                raise ConfigError(f"mitdb: {name} must be positive, got {value}")
        self.sampto = sampto
        self.duration_s = duration_s
        self.annotation_extension = annotation_extension

    def _label_source(self) -> Path:
        return self._records_file_or_folder()

    def _all_record_ids(self) -> list:
        return self._listed_record_ids()

    def _stop(self, fs: float) -> Optional[int]:
        if self.sampto is not None:
            return int(self.sampto)
        if self.duration_s is not None:
            return int(round(self.duration_s * fs))
        return None

    def read_annotations(self, record_id: str, sampto: Optional[int] = None, fs: Optional[float] = None):
        """``(BeatAnnotations, rhythm pairs)`` from the ``.atr`` without reading the signal.

        ``RecordError`` (reason ``truncated_annotations``) for a file without its end marker, or, given
        ``sampto`` (the signal's length read) and ``fs``, annotations ending more than
        ``MAX_UNANNOTATED_TAIL_S`` before it."""
        import wfdb

        self._check_known(record_id)
        base = self.data_dir / record_id
        path = Path(f"{base}.{self.annotation_extension}")
        if not path.is_file():
            raise RecordError(path, "missing_file", "annotation file not found")
        try:
            ann = wfdb.rdann(str(base), self.annotation_extension, sampto=sampto)
        except Exception as exc:
            raise RecordError(path, "bad_annotations", f"cannot read annotations ({type(exc).__name__}: {exc})") from None
        samples = np.asarray(ann.sample, dtype=np.int64)
        _check_complete(path, samples, sampto, fs)
        symbols = list(ann.symbol)
        notes = list(ann.aux_note) if ann.aux_note is not None else [""] * len(symbols)
        beat_samples, beat_symbols, beat_labels, rhythm = [], [], [], []
        for sample, symbol, note in zip(samples, symbols, notes):
            if sampto is not None and sample >= sampto:
                continue
            label = tasks_lib.aami_class(symbol)
            if label is not None:
                beat_samples.append(int(sample))
                beat_symbols.append(symbol)
                beat_labels.append(label)
            elif symbol == RHYTHM_SYMBOL and _clean_note(note):
                rhythm.append((int(sample), _clean_note(note)))
        beats = BeatAnnotations(samples=np.asarray(beat_samples, dtype=np.int64), symbols=tuple(beat_symbols),
                                labels=tuple(beat_labels))
        return beats, tuple(rhythm)

    def beat_annotations_for(self, record_id: str) -> BeatAnnotations:
        """AAMI beat annotations of a record (cut like ``load``), without reading the signal."""
        header = self._header(record_id)
        stop = self._stop(header.fs)
        return self.read_annotations(record_id, min(stop or header.sig_len, header.sig_len), header.fs)[0]

    def _header(self, record_id: str):
        self._check_known(record_id)
        base = self.data_dir / record_id
        if not header_path(base).is_file():
            raise self._missing_record(record_id, header_path(base))
        return read_header(base)

    def load(self, record_id: str) -> Record:
        header = self._header(record_id)
        base = self.data_dir / record_id
        stop = self._stop(header.fs)
        signal, fs, lead_names, header = read_wfdb_signal(base, lead=self.lead, sampto=stop, header=header)
        beats, rhythm = self.read_annotations(record_id, sampto=signal.shape[0], fs=fs)
        return Record(record_id=record_id, signal=signal, fs=fs, lead_names=lead_names, source=self.name,
                      path=str(header_path(base)), beat_annotations=beats, rhythm=rhythm,
                      metadata={"comments": list(header.comments or []), "sig_len": int(header.sig_len)})


def _check_complete(path: Path, samples: np.ndarray, sampto: Optional[int], fs: Optional[float]) -> None:
    """A cut ``.atr`` reads without error in wfdb: its beats just stop, and the rest would be scored unlabelled."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(size - 2, 0))
        tail = fh.read()
    if size % 2 or tail != END_OF_ANNOTATIONS:
        raise RecordError(path, "truncated_annotations", f"annotation file is cut short ({size} bytes, no "
                                                         "end-of-annotations marker)")
    if sampto is not None and fs:
        last = int(samples.max()) if samples.size else 0
        if (sampto - last) / fs > MAX_UNANNOTATED_TAIL_S:
            raise RecordError(path, "truncated_annotations", f"annotations end at {last / fs:.1f} s but the "
                                                             f"signal runs to {sampto / fs:.1f} s")


def patient_groups(record_ids) -> list:
    """``record_ids`` grouped by subject (``tasks.MITDB_SAME_PATIENT``), in first-seen order."""
    ids = [str(r) for r in record_ids]
    owner = {}
    for group in tasks_lib.MITDB_SAME_PATIENT:
        for rid in group:
            owner[rid] = group[0]
    groups = {}
    for rid in ids:
        groups.setdefault(owner.get(rid, rid), []).append(rid)
    return list(groups.values())


def leave_records_out_folds(label_counts: dict, n_folds: int = 2, balance=("S", "V", "F")) -> list:
    """Split records into ``n_folds`` disjoint folds, whole subjects on one side, rare classes spread.

    ``label_counts``: record id -> {AAMI class: beats} (``MitdbReader.beat_annotations_for``).
    Deterministic greedy balancing: subjects in decreasing order of their share of the rare
    classes go to the fold where the sum of squared per-class shares (rare classes and all beats)
    grows least. Returns a list of sorted record-id lists; every record is in exactly one fold,
    and records of one subject (``patient_groups``) are never on both sides of a split.
    """
    if n_folds < 2:
        raise ConfigError(f"leave_records_out_folds: n_folds must be >= 2, got {n_folds}")
    groups = patient_groups(sorted(label_counts))
    if len(groups) < n_folds:
        raise ConfigError(f"leave_records_out_folds: {len(groups)} subject(s) cannot fill {n_folds} folds")
    classes = tuple(balance) + (None,)   # None: all beats

    def beats(rid, c):
        counts = label_counts[rid]
        return sum(int(v) for v in counts.values()) if c is None else int(counts.get(c, 0))

    totals = {c: max(1, sum(beats(r, c) for r in label_counts)) for c in classes}

    def share(group):
        return np.array([sum(beats(r, c) for r in group) / totals[c] for c in classes])

    load = [np.zeros(len(classes)) for _ in range(n_folds)]
    folds = [[] for _ in range(n_folds)]
    for group in sorted(groups, key=lambda g: (-float(share(g)[:-1].sum()), g[0])):
        s = share(group)
        best = min(range(n_folds), key=lambda k: (float(np.sum((load[k] + s) ** 2) - np.sum(load[k] ** 2)), k))
        folds[best].extend(group)
        load[best] = load[best] + s
    return [sorted(f) for f in folds]

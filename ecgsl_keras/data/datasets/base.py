"""The one record type every reader yields, and the skip-and-count iteration helper."""
from __future__ import annotations

import collections
import logging
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional

import numpy as np

from ecgsl_keras.errors import RecordError

log = logging.getLogger(__name__)


@dataclass
class BeatAnnotations:
    """Reference beat annotations (MIT-BIH): sample positions at the record's native rate."""

    samples: np.ndarray          # int64, (n,)
    symbols: tuple               # original annotation symbols
    labels: tuple                # task label names (AAMI class) aligned with ``samples``


@dataclass
class Record:
    """One ECG recording, read lazily by a data set reader.

    ``signal`` is float32 millivolts shaped ``(n_samples, n_leads)``, ``fs`` in Hz.
    ``labels`` are record-level labels already in the task's label space (``tasks.py``):
    one name for a multiclass task, zero or more for a multilabel task.
    ``minute_labels`` (Apnea-ECG) hold one task label per minute from the record start.
    ``rhythm`` holds ``(sample, rhythm string)`` pairs (MIT-BIH ``(AFIB`` ...).
    ``metadata`` carries data-set specifics (PTB-XL ``strat_fold``, patient id, ...).
    """

    record_id: str
    signal: np.ndarray
    fs: float
    lead_names: tuple
    source: str
    path: str = ""
    labels: tuple = ()
    beat_annotations: Optional[BeatAnnotations] = None
    minute_labels: Optional[tuple] = None
    rhythm: tuple = ()
    metadata: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.signal.shape[0] / float(self.fs)

    def lead(self, name: Optional[str] = None) -> np.ndarray:
        """One lead as a 1-D float32 array (the first when ``name`` is None)."""
        if name is None:
            return self.signal[:, 0]
        try:
            return self.signal[:, list(self.lead_names).index(name)]
        except ValueError:
            raise RecordError(self.path or self.record_id, "missing_lead",
                              f"lead {name!r} not in record (leads: {list(self.lead_names)})") from None


class SkipCounter:
    """Counts records skipped by reason while iterating a data set."""

    def __init__(self):
        self.counts = collections.Counter()
        self.examples = {}

    def add(self, error: RecordError) -> None:
        self.counts[error.reason] += 1
        self.examples.setdefault(error.reason, str(error))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> dict:
        return {"skipped": self.total, "by_reason": dict(self.counts), "first_error_by_reason": dict(self.examples)}

    def __str__(self) -> str:
        if not self.total:
            return "skipped 0 records"
        parts = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.counts.items()))
        return f"skipped {self.total} records ({parts})"


def iterate_skipping(loader, record_ids: Iterable[str], skipped: Optional[SkipCounter] = None) -> Iterator[Record]:
    """Yield ``loader(record_id)`` for each id, skipping (and counting) records that raise RecordError.

    At the end the skip count is logged; pass your own ``SkipCounter`` to read it afterwards.
    """
    skipped = skipped if skipped is not None else SkipCounter()
    for record_id in record_ids:
        try:
            yield loader(record_id)
        except RecordError as error:
            skipped.add(error)
            log.warning("skipping %s", error)
    if skipped.total:
        log.warning("%s", skipped)

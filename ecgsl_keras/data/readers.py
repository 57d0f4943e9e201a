"""One lead of a WFDB record, in millivolts, for prediction (``ecgsl predict``, ``edge``, ``explain``).

The reading itself is ``ecgsl_keras.data.datasets.wfdb_folder.read_wfdb_signal`` (the readers of the
data sets use it too), so headers, truncated files and unknown leads are checked in one place.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ecgsl_keras.data.datasets.wfdb_folder import UNIT_TO_MV, read_header, read_wfdb_signal
from ecgsl_keras.errors import RecordError

__all__ = ["read_lead", "UNIT_TO_MV"]


def read_lead(record_path, lead=None):
    """``(signal_mV 1-D float32, fs, lead name)`` of one lead of a WFDB record (default: the first).
    ``record_path`` may carry the ``.hea``, ``.mat`` or ``.dat`` extension."""
    record_path = str(record_path)
    for suffix in (".hea", ".mat", ".dat"):
        if record_path.endswith(suffix):
            record_path = record_path[: -len(suffix)]
    if not Path(record_path + ".hea").is_file():
        raise RecordError(record_path, "missing_record", "no such WFDB record (expected a .hea header beside it)")
    header = read_header(record_path)
    names = list(header.sig_name or [])
    if lead is not None and lead not in names:
        raise RecordError(record_path, "missing_lead", f"lead {lead!r} not in record (leads: {names})")
    index = 0 if lead is None else names.index(lead)
    unit = ((header.units or [None] * len(names))[index] or "mV").strip()
    if unit.lower() not in UNIT_TO_MV:
        raise RecordError(record_path, "bad_units", f"lead {names[index]!r} is in {unit!r}; expected mV, uV or V")
    signal, fs, lead_names, _ = read_wfdb_signal(record_path, lead=index, header=header)
    return np.asarray(signal[:, 0], np.float32), float(fs), lead_names[0]

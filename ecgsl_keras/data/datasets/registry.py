"""Data set names -> reader classes, and ``open_dataset``.

    reader = open_dataset("cinc2017", "path/to/training2017")
    reader = open_dataset("ptbxl", "path/to/ptbxl", rate=500, lead="II", folds=[10])
    reader = open_dataset("wfdb", "my_folder", labels_csv="labels.csv")
"""
from __future__ import annotations

import inspect

from ecgsl_keras.data.datasets.apnea_ecg import ApneaEcgReader
from ecgsl_keras.data.datasets.cinc2017 import CinC2017Reader
from ecgsl_keras.data.datasets.mitdb import MitdbReader
from ecgsl_keras.data.datasets.ptbxl import PtbxlReader
from ecgsl_keras.data.datasets.wfdb_folder import WfdbFolderReader
from ecgsl_keras.errors import ConfigError

DATASETS = {reader.name: reader for reader in (CinC2017Reader, MitdbReader, ApneaEcgReader, PtbxlReader,
                                               WfdbFolderReader)}
# Other spellings people type.
_ALIASES = {"apnea_ecg": "apnea-ecg", "apnea": "apnea-ecg", "mit-bih": "mitdb", "ptb-xl": "ptbxl",
            "wfdb_folder": "wfdb", "wfdb-folder": "wfdb", "cinc-2017": "cinc2017"}


def dataset_options(name: str) -> list:
    """Keyword options the reader of ``name`` accepts."""
    reader = DATASETS[_canonical(name)]
    return [p.name for p in inspect.signature(reader.__init__).parameters.values()
            if p.kind == inspect.Parameter.KEYWORD_ONLY]


def _canonical(name: str) -> str:
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise ConfigError(f"unknown data set {name!r} (known: {sorted(DATASETS)})")
    return key


def open_dataset(name: str, data_dir, **kwargs):
    """The reader of data set ``name`` on ``data_dir``; options the reader lacks are a ``ConfigError``."""
    key = _canonical(name)
    accepted = dataset_options(key)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(f"data set {key!r} does not take option(s) {unknown} (it takes: {accepted})")
    return DATASETS[key](data_dir, **kwargs)

"""Readers of PhysioNet data sets; each yields ``Record`` objects one at a time.

``open_dataset(name, data_dir, **options)`` picks the reader; ``DATASETS`` lists them.
"""
from ecgsl_keras.data.datasets.apnea_ecg import ApneaEcgReader
from ecgsl_keras.data.datasets.base import BeatAnnotations, Record, SkipCounter, iterate_skipping
from ecgsl_keras.data.datasets.cinc2017 import CinC2017Reader, cinc2017_sample_dir
from ecgsl_keras.data.datasets.mitdb import MitdbReader
from ecgsl_keras.data.datasets.ptbxl import PtbxlReader
from ecgsl_keras.data.datasets.registry import DATASETS, dataset_options, open_dataset
from ecgsl_keras.data.datasets.wfdb_folder import DatasetReader, WfdbFolderReader, read_wfdb_signal

__all__ = ["BeatAnnotations", "Record", "SkipCounter", "iterate_skipping", "DATASETS", "open_dataset",
           "dataset_options", "DatasetReader", "CinC2017Reader", "MitdbReader", "ApneaEcgReader", "PtbxlReader",
           "WfdbFolderReader", "cinc2017_sample_dir", "read_wfdb_signal"]

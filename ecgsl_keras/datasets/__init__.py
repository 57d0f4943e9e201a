"""Readers of PhysioNet data sets; each yields ``Record`` objects one at a time."""
from ecgsl_keras.datasets.base import BeatAnnotations, Record, SkipCounter, iterate_skipping

__all__ = ["BeatAnnotations", "Record", "SkipCounter", "iterate_skipping"]

"""Issue 18's af56 (experiments/cinc2017/beat_ectopy_lever.py): the primary variant is af29's FOCUS columns unchanged,
joined after the 118 columns in FOCUS' order; a missing beat-ectopy table names the command that writes it; the
validation split is refused for a lever that is not kept; the extraction summary reads beat_ectopy.py's files."""
import json

import numpy as np
import pytest

from experiments.cinc2017 import beat_ectopy, beat_ectopy_lever
from ecgsl_keras.data.beat_ectopy import feature_names


class _Lever:
    names = ["a", "b"]
    X = {"train": np.zeros((2, 2)), "validation": np.ones((1, 2))}
    ids = {"train": ["A1", "A2"], "validation": ["A3"]}


def _lever(tmp_path, table=True):
    lever = beat_ectopy_lever.BeatEctopyLever.__new__(beat_ectopy_lever.BeatEctopyLever)
    lever.work, lever.lever, lever.ids = tmp_path, _Lever(), ["A1", "A2"]
    if table:
        names = list(feature_names())
        np.savez(tmp_path / beat_ectopy_lever.TABLE, record_id=np.array(["A2", "A3", "A1"]), names=np.array(names),
                 X=np.arange(3 * len(names), dtype=float).reshape(3, len(names)))
    return lever


def test_focus_is_af29s_columns_joined_in_order(tmp_path):
    lever = _lever(tmp_path)
    names = list(feature_names())
    assert set(beat_ectopy.FOCUS) < set(names)
    X, joined_names = lever.extended("train", "focus", lever.ids)
    assert joined_names == ["a", "b"] + list(beat_ectopy.FOCUS)
    row_a1 = np.arange(2 * len(names), 3 * len(names), dtype=float)           # A1 is the table's third row
    np.testing.assert_array_equal(X[0, 2:], row_a1[[names.index(n) for n in beat_ectopy.FOCUS]])
    X_all, all_names = lever.extended("validation", "all", ["A3"])
    assert X_all.shape == (1, 2 + len(names)) and all_names == ["a", "b"] + names


def test_missing_table_names_the_command(tmp_path):
    lever = _lever(tmp_path, table=False)
    with pytest.raises(SystemExit, match=r"beat_ectopy\.npz: not found: run beat_ectopy\.py"):
        lever.extended("train", "focus", lever.ids)


def test_validation_refused_unless_kept(tmp_path):
    lever = _lever(tmp_path)
    for result in ({}, {"cv": {"kept": False}}):
        with pytest.raises(SystemExit, match="not kept"):
            lever.step_validate(result)


def test_table_summary_without_the_extraction_names_the_file(tmp_path):
    with pytest.raises(SystemExit, match=r"timing\.json: not found: run beat_ectopy\.py"):
        beat_ectopy_lever.table_summary(tmp_path)


def test_table_summary_reads_the_extraction(tmp_path):
    beats = tmp_path / "beats"
    beats.mkdir()
    (beats / "timing.json").write_text(json.dumps({"chunk_000.npz": {"records": 4, "seconds": 0.2},
                                                   "chunk_001.npz": {"records": 1, "seconds": 0.3}}))
    (beats / "errors.json").write_text(json.dumps({"A9": "SignalQualityError: flat"}))
    summary = beat_ectopy_lever.table_summary(tmp_path)
    assert summary["records"] == 5 and summary["refused"] == 1 and summary["ms_per_record"] == 100.0

"""Issue 18's af50 (experiments/cinc2017/served_offsets.py): the cross-fitted estimate of decision offsets never
lets a record's label reach the offsets that classify it, its partitions are stratified, and a missing or foreign
predictions file is named. Real inputs: the committed out-of-fold table's validation rows (the shipped preset's
fold members on 1,364 CinC 2017 records)."""
from pathlib import Path

import numpy as np
import pytest

from experiments.cinc2017 import served_offsets
from experiments.cinc2017.oof_table import DEFAULT_NPZ


@pytest.fixture(scope="module")
def validation_rows():
    table = np.load(DEFAULT_NPZ)
    rows = table["split"] == "validation"
    p = 0.5 * (table["ecgsl"][rows] + table["resnet"][rows]).astype(np.float64)
    return np.log(np.clip(p, 1e-7, 1.0)), table["label"][rows].astype(int)


def test_partitions_are_stratified_and_balanced(validation_rows):
    _, y = validation_rows
    fold = served_offsets.stratified_folds(y, 5, seed=3)
    sizes = np.bincount(fold, minlength=5)
    assert sizes.sum() == len(y) and sizes.max() - sizes.min() <= 1
    for c in range(4):                        # each class dealt over the parts: at most one apart
        per = np.bincount(fold[y == c], minlength=5)
        assert per.max() - per.min() <= 1
    assert not np.array_equal(fold, served_offsets.stratified_folds(y, 5, seed=4))   # seeds give new partitions


def test_a_held_records_label_never_reaches_its_offsets(validation_rows):
    logp, y = validation_rows
    fold = served_offsets.stratified_folds(y, 5, seed=0)
    pred, offsets = served_offsets.crossfit_predictions(logp, y, fold)
    assert len(offsets) == 5 and all(b[0] == 0.0 for b in offsets)    # N's offset fixed
    held = fold == 2
    flipped = y.copy()
    flipped[held] = (y[held] + 1) % 4          # every held label wrong: the held part's classes must not move
    again, again_offsets = served_offsets.crossfit_predictions(logp, flipped, fold)
    np.testing.assert_array_equal(again[held], pred[held])
    assert again_offsets[2] == offsets[2]
    assert again_offsets != offsets           # the other parts' choices did see those labels


def test_crossfit_reports_paired_gains_and_the_keep_rule(validation_rows):
    logp, y = validation_rows
    out = served_offsets.crossfit(logp, y, repeats=3, k=5)
    plain = served_offsets._metrics(y, logp.argmax(-1))
    assert out["plain"] == plain and len(out["runs"]) == 3
    for run in out["runs"]:
        assert run["gain"]["macro_f1"] == pytest.approx(run["with"]["macro_f1"] - plain["macro_f1"])
    assert out["kept"] is False                # 16 positive repeats of 20 are needed; 3 repeats cannot pass
    ceiling = served_offsets.af_threshold_ceiling(logp, y)
    assert ceiling["best"]["af_f1"] == max(r["af_f1"] for r in ceiling["rows"])
    zero = next(r for r in ceiling["rows"] if r["offset"] == 0.0)
    assert zero["af_f1"] == pytest.approx(plain["per_class_f1"]["A"])


def test_missing_or_foreign_predictions_file_is_named(tmp_path):
    with pytest.raises(SystemExit, match=str(tmp_path / "none.csv")):
        served_offsets.read_served(tmp_path / "none.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("record,label,p_N\nA00001,N,0.9\n")
    with pytest.raises(SystemExit, match=r"bad\.csv: not evaluate's predictions CSV"):
        served_offsets.read_served(bad)
    assert Path(bad).read_text().startswith("record")         # the file is left as it was

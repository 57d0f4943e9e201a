"""Issue 18's af51 (experiments/cinc2017/served_weight.py): the cross-fitted blend weight never sees the labels of
the records it classifies, ties go to the shipped weight, and a missing components file is named. Real inputs: the
committed out-of-fold table's validation rows (ECG-SL's and the ResNet's fold-member means on 1,364 CinC 2017
records), standing in for the two sides of the blend."""
from types import SimpleNamespace

import numpy as np
import pytest

from experiments.cinc2017 import served_offsets, served_weight
from experiments.cinc2017.oof_table import DEFAULT_NPZ


@pytest.fixture(scope="module")
def two_sides():
    table = np.load(DEFAULT_NPZ)
    rows = table["split"] == "validation"
    return (table["ecgsl"][rows].astype(np.float64), table["resnet"][rows].astype(np.float64),
            table["label"][rows].astype(int))


def test_a_held_records_label_never_reaches_its_weight(two_sides, monkeypatch):
    a, b, y = two_sides
    fold = served_offsets.stratified_folds(y, 5, seed=0)
    pred, weights = served_weight.crossfit_predictions(a, b, y, fold)
    assert len(weights) == 5 and all(w in served_weight.WEIGHTS for w in weights)
    for f, w in enumerate(weights):             # each part is the blend at its part's weight
        held = fold == f
        np.testing.assert_array_equal(pred[held], served_weight.blend(a[held], b[held], w).argmax(-1))
    seen = []                                   # what each choice was given: the other parts' rows, never the held
    choose = served_weight.choose_weight
    monkeypatch.setattr(served_weight, "choose_weight", lambda *rows: seen.append(rows) or choose(*rows))
    served_weight.crossfit_predictions(a, b, y, fold)
    assert len(seen) == 5
    for f, (side_a, side_b, labels) in enumerate(seen):
        other = fold != f
        np.testing.assert_array_equal(side_a, a[other])
        np.testing.assert_array_equal(side_b, b[other])
        np.testing.assert_array_equal(labels, y[other])


def test_ties_go_to_the_shipped_weight_and_the_best_is_taken(two_sides):
    a, _, y = two_sides
    assert served_weight.choose_weight(a, a, y) == served_weight.SHIPPED_WEIGHT   # every weight ties
    weak = 0.3 * np.eye(4)[y] + (0.7 / 3) * (1 - np.eye(4)[y])   # right on every row, by a small margin
    macro = {w: served_offsets._metrics(y, served_weight.blend(a, weak, w).argmax(-1))["macro_f1"]
             for w in served_weight.WEIGHTS}
    best = max(macro.values())
    assert best == 1.0 and macro[served_weight.SHIPPED_WEIGHT] < 1.0        # the shipped weight is not the best
    chosen = served_weight.choose_weight(a, weak, y)
    assert macro[chosen] == best
    assert chosen == min((w for w in macro if macro[w] == best), key=lambda w: abs(w - 0.5))   # nearest 0.5


def test_missing_components_are_named(tmp_path):
    lever = served_weight.ServedWeight(SimpleNamespace(work=str(tmp_path)), {})
    with pytest.raises(SystemExit, match=r"served_components\.npz: no such file"):
        lever.step_crossfit()

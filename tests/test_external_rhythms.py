"""Issue 18's af69 (experiments/cinc2017/external_rhythms.py): MIT-BIH windows' rhythms and CinC classes, on rules
and on the repo's MIT-BIH fixture (119's bigeminy, 208's trigeminy), and the windows never scored by the CV."""
import numpy as np

from experiments.cinc2017 import external_rhythms as er
from experiments.cinc2017.crop_augment import augmented_rows
from helpers import MITDB_FIXTURE


def test_window_rhythms_hold_the_rhythm_in_force_before_the_window():
    changes = ((10, "(N"), (100, "(B"), (200, "(N"))
    assert er.window_rhythms(changes, 0, 50) == {"(N"}                # before the first change: the first rhythm
    assert er.window_rhythms(changes, 120, 180) == {"(B"}             # inside an episode that began before it
    assert er.window_rhythms(changes, 150, 250) == {"(B", "(N"}
    assert er.window_rhythms(changes, 300, 400) == {"(N"}
    assert er.window_rhythms((), 0, 10) == set()


def test_window_class_rules():
    assert er.window_class({"(AFIB"}, ["N", "V"]) == "A"
    assert er.window_class({"(AFIB", "(N"}, ["N"]) is None               # paroxysm inside the window: not labelled
    assert er.window_class({"(N", "(B"}, ["N", "V"]) == "O"
    assert er.window_class({"(AFL"}, ["N"]) == "O"
    assert er.window_class({"(N"}, ["N", "N"]) == "N"
    assert er.window_class({"(N"}, ["N", "V"]) is None                  # sinus with an ectopic beat: not labelled
    assert er.window_class({"(N"}, []) is None
    assert er.window_class(set(), ["N"]) is None


def test_fixture_windows_of_bigeminy_and_trigeminy_are_other():
    from ecgsl_keras.data.datasets import open_dataset

    reader = open_dataset("mitdb", MITDB_FIXTURE, lead="MLII")
    for rid in ("119", "208"):
        record = reader.load(rid)
        windows = er.record_windows(record)
        size = int(round(er.WINDOW_S * record.fs))
        assert windows and all(b - a == size and b <= record.signal.shape[0] for a, b, _ in windows)
        assert {c for _, _, c in windows} == {"O"}                    # episodes inside sinus rhythm, no pure sinus
        for a, b, _ in windows:
            assert er.window_rhythms(record.rhythm, a, b) & {"(B", "(T"}     # bigeminy or trigeminy in each
        # a window of sinus rhythm with ectopic beats gets no class: fewer windows than the record holds
        assert len(windows) < record.signal.shape[0] // size


def test_windows_train_every_fold_and_are_never_held():
    rng = np.random.default_rng(0)
    X, y, fold = rng.normal(size=(40, 3)), rng.integers(0, 4, 40), np.arange(40) % 5
    wX, wy = rng.normal(size=(7, 3)), rng.integers(1, 3, 7)
    class_weight = np.array([1.0, 2.0, 3.0, 4.0])
    for held in range(5):
        Xa, ya, wa = augmented_rows(X, y, fold, wX, wy, np.full(7, er.EXTERNAL_FOLD), held, 0.5, class_weight)
        assert len(Xa) == (fold != held).sum() + 7
        np.testing.assert_array_equal(Xa[-7:], wX)
        np.testing.assert_allclose(wa[-7:], 0.5 * class_weight[wy])

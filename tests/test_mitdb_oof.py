"""experiments/mitdb/oof.py (issue 18, run s36): the committed left-out ECG-SL probabilities and their loader."""
import json

import numpy as np
import pytest

from experiments.mitdb import oof

LABELS = ["N", "S", "V", "F", "Q"]
FOLDS = {"folds": [["100", "101"], ["102"]], "beats_per_record": {"100": {"N": 3}, "101": {"N": 2}, "102": {"N": 3}}}


def _table():
    record = np.array(["100"] * 3 + ["101"] * 2 + ["102"] * 3)
    time_s = np.array([0.5, 1.3, 2.1, 0.4, 1.2, 0.6, 1.4, 1795.37])
    y = np.array([0, 1, 2, 0, 3, 0, 2, 0])
    return {"record": record, "time_s": time_s, "y": y}


def _probabilities(rng, n):
    p = rng.random((n, len(LABELS)))
    return p / p.sum(axis=1, keepdims=True)


@pytest.fixture
def committed(tmp_path):
    rng = np.random.default_rng(0)
    table = _table()
    outer = _probabilities(rng, 8)
    outer[4] = np.nan                                   # a beat without a prepared beat
    inner0 = np.full_like(outer, np.nan)
    inner0[5:] = _probabilities(rng, 3)                 # fold 0 left out: its training records are fold 1's
    inner1 = np.full_like(outer, np.nan)
    inner1[:5] = _probabilities(rng, 5)
    info = oof.write(tmp_path / "oof" / "left_out.npz", table, LABELS, outer, {0: inner0, 1: inner1}, FOLDS,
                     {"note": "synthetic"})
    return tmp_path / "oof" / "left_out.npz", table, outer, inner0, inner1, info


def test_write_and_read_back_in_float16(committed):
    path, table, outer, inner0, _, info = committed
    assert info["beats"] == 8 and info["dtype"] == "float16" and info["outer_beats"] == 7
    assert info["inner_beats"] == {"0": 3, "1": 5}
    c = oof.CommittedPredictions(path)
    assert c.labels == LABELS and c.folds == FOLDS["folds"] and c.has_inner()
    p0, m0 = c.outer(0, table)
    assert m0.tolist() == [True, True, True, True, False, False, False, False]   # fold 0's beats, 101's second lost
    np.testing.assert_allclose(p0[m0], outer[m0], atol=1e-3)
    p1, m1 = c.outer(1, table)
    assert m1.tolist() == [False] * 5 + [True] * 3
    np.testing.assert_allclose(c.inner(0, table)[5:], inner0[5:], atol=1e-3)
    assert np.isnan(c.inner(0, table)[:5]).all()
    # the run names of run.py, as beats_preset._deep_by_time asks for them
    p, m = c.deep_of_run("scratch_focal_heldout1", table)
    np.testing.assert_array_equal(m, m1)
    p, m = c.deep_of_run("scratch_focal_heldout0_inner1", table)
    assert m.tolist() == [False] * 5 + [True] * 3
    with pytest.raises(SystemExit, match="scratch_focal runs only"):
        c.deep_of_run("pretrained_cw_heldout0", table)


def test_beats_are_matched_by_record_and_time(committed):
    path, table, outer, _, _, _ = committed
    c = oof.CommittedPredictions(path)
    # a table built again: another order, times off by less than TIME_TOL, one new beat and one beat gone
    order = np.array([7, 6, 5, 2, 1, 0, 3])
    again = {"record": np.r_[table["record"][order], ["100"]],
             "time_s": np.r_[table["time_s"][order] + 5e-4, [9.9]], "y": np.r_[table["y"][order], [0]]}
    rows = c.align(again)
    assert rows.tolist() == [7, 6, 5, 2, 1, 0, 3, -1]
    p, matched = c.outer(0, again)
    np.testing.assert_allclose(p[3:6], outer[[2, 1, 0]], atol=1e-3)
    assert not matched[-1]
    wrong = dict(again, y=np.r_[again["y"][:-2], [4, 0]])
    with pytest.raises(SystemExit, match="another class"):
        oof.CommittedPredictions(path).align(wrong)


def test_folds_json_is_written_and_checked(committed, tmp_path):
    path = committed[0]
    c = oof.CommittedPredictions(path)
    work = tmp_path / "work"
    c.write_folds(work)
    assert json.loads((work / "folds.json").read_text())["folds"] == FOLDS["folds"]
    c.write_folds(work)    # the same split again: fine
    (work / "folds.json").write_text(json.dumps({"folds": [["100"], ["101", "102"]]}))
    with pytest.raises(SystemExit, match="not those of"):
        c.write_folds(work)


def test_bad_files_are_named(tmp_path):
    with pytest.raises(SystemExit, match="no committed left-out predictions"):
        oof.CommittedPredictions(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", outer=np.zeros((2, 5)))
    with pytest.raises(SystemExit, match="missing"):
        oof.CommittedPredictions(tmp_path / "other.npz")


def test_beats_preset_reads_the_committed_file(committed, monkeypatch, tmp_path):
    from experiments.mitdb import beats_preset

    path, table, outer, _, inner1, _ = committed
    monkeypatch.setattr(beats_preset, "COMMITTED", oof.CommittedPredictions(path))
    p, matched = beats_preset._deep_by_time(tmp_path, "scratch_focal_heldout0", "fold0", table)
    np.testing.assert_allclose(p[matched], outer[:4][~np.isnan(outer[:4]).any(axis=1)], atol=1e-3)
    train = np.isin(table["record"], FOLDS["folds"][0])
    got = beats_preset._inner_deep(tmp_path, 1, [["100"], ["101"]], table, train)
    np.testing.assert_allclose(got, inner1[:5], atol=1e-3)


def test_inner_k_file_joins_the_main_file_and_reads_back(committed, tmp_path):
    """run s37: the inner-4 probabilities committed apart (oof.write_inner) and joined with add_inner."""
    path, table, outer, _, _, _ = committed
    c = oof.CommittedPredictions(path)
    rng = np.random.default_rng(1)
    inner4 = np.full_like(outer, np.nan)
    inner4[5:] = _probabilities(rng, 3)
    groups = {0: [["102"]], 1: [["100"], ["101"]]}
    info = oof.write_inner(tmp_path / "inner4.npz", c, table, {0: inner4}, 4, groups, {"note": "synthetic"})
    assert info["dtype"] == "float16" and info["inner_beats"] == {"0": 3}
    fresh = oof.CommittedPredictions(path)
    with pytest.raises(SystemExit, match="no inner4_heldout0"):
        fresh.inner_k(0, table, 4)
    assert fresh.add_inner(tmp_path / "inner4.npz") == 4
    np.testing.assert_allclose(fresh.inner_k(0, table, 4)[5:], inner4[5:], atol=1e-3)
    assert np.isnan(fresh.inner_k(0, table, 4)[:5]).all()
    assert fresh.inner_k_groups == {"0": [["102"]], "1": [["100"], ["101"]]}
    assert oof.inner_k_path(4).name == "inner4_k2.npz"
    # each committed left-out file has its own inner-K file beside it (run v39: v37's beat-minus-median models)
    assert oof.inner_k_path_for(oof.DEFAULT, 4) == oof.inner_k_path(4).resolve()
    assert oof.inner_k_path_for(tmp_path / "left_out_k2_median.npz", 4) == tmp_path / "inner4_k2_median.npz"
    with pytest.raises(SystemExit, match="not a committed left-out file name"):
        oof.inner_k_path_for(tmp_path / "other.npz", 4)


def test_inner_k_file_of_other_beats_is_an_error_naming_it(committed, tmp_path):
    path, table, outer, _, _, _ = committed
    c = oof.CommittedPredictions(path)
    bad = tmp_path / "bad.npz"
    np.savez(bad, y=np.zeros(8, np.int8), labels=np.array(LABELS), inner4_heldout0=outer.astype(np.float16))
    with pytest.raises(SystemExit, match="bad.npz: its beats are not the rows"):
        c.add_inner(bad)
    np.savez(bad, y=c.arrays["y"], labels=np.array(LABELS))
    with pytest.raises(SystemExit, match="bad.npz: not a committed inner-K file"):
        c.add_inner(bad)
    with pytest.raises(SystemExit, match="missing.npz: no committed inner"):
        c.add_inner(tmp_path / "missing.npz")

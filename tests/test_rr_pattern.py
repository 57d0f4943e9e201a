"""experiments/cinc2017/rr_pattern.py (issue 18, af44): the candidate tables and the keep rule's decision."""
import numpy as np

from experiments.cinc2017 import rr_pattern


def _row(af, af_sd, macro, macro_sd, kept=False):
    return {"af_f1": {"mean": af, "sd": af_sd}, "macro_f1": {"mean": macro, "sd": macro_sd}, "kept": kept}


def test_candidate_tables_hold_their_groups_columns(tmp_path):
    names = rr_pattern.names()
    assert len(names) == 10 and names == rr_pattern.names(("paroxysm",)) + rr_pattern.names(("block",))
    out = tmp_path / "rr_pattern.npz"
    X = np.arange(30, dtype=np.float32).reshape(3, 10)
    np.savez_compressed(out, record_id=np.array(["A1", "A2", "A3"]), names=np.array(names), X=X)
    paths = rr_pattern.write_candidates(out)
    assert set(paths) == set(rr_pattern.CANDIDATES)
    block = np.load(paths["rr_block"])
    assert list(block["names"]) == list(rr_pattern.names(("block",)))
    assert np.array_equal(block["X"], X[:, 5:]) and list(block["record_id"]) == ["A1", "A2", "A3"]
    assert np.array_equal(np.load(paths["rr_pattern"])["X"], X)          # the file of both groups is --out itself


def test_decide_keeps_only_a_candidate_that_passes_on_both_seed_sets():
    base, fresh = _row(0.856, 0.004, 0.800, 0.001), _row(0.852, 0.004, 0.796, 0.003)
    lever = {"base": base, "base_fresh_seeds": fresh,
             "extra": {"rr_paroxysm": _row(0.851, 0.004, 0.796, 0.001), "rr_block": _row(0.866, 0.002, 0.800, 0.001, True),
                       "rr_pattern": _row(0.862, 0.002, 0.800, 0.001, True)},
             "extra_fresh_seeds": {"rr_paroxysm": _row(0.853, 0.001, 0.795, 0.002),
                                   "rr_block": _row(0.860, 0.001, 0.796, 0.002, True),
                                   "rr_pattern": _row(0.853, 0.001, 0.796, 0.002)},
             "extra_paired": {s: {"af_f1": {"mean": g}, "macro_f1": {"mean": 0.0}}
                              for s, g in (("rr_paroxysm", -0.002), ("rr_block", 0.009), ("rr_pattern", 0.004))}}
    got = rr_pattern.decide({"af_lever": lever})
    assert got["complete"] and got["kept"] == "rr_block" and got["kept_says"] == "rr_block"
    assert got["candidates"]["rr_pattern"]["says"] == {"seeds_42_44": "yes", "seeds_45_47": "no", "passes": "no"}
    assert not got["candidates"]["rr_paroxysm"]["passes"]
    assert got["candidates"]["rr_block"]["seeds_42_44"]["af_f1_gain"] == np.float64(0.866 - 0.856)
    del lever["extra_fresh_seeds"]["rr_block"]                          # a seed set not run yet: nothing kept from it
    got = rr_pattern.decide({"af_lever": lever})
    assert not got["complete"] and got["kept"] is None and got["kept_says"] == "none"

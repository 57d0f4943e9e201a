"""Issue 18's af61 (experiments/cinc2017/booster_regularisation.py): the choice takes the best AF F1 among settings
whose macro F1 stays within the guard of the shipped setting's (the shipped setting on a tie), and in the cross-fit
each held fifth is classified with a setting chosen on the other fifths only."""
import numpy as np
import pytest

from experiments.cinc2017 import booster_regularisation as reg
from experiments.cinc2017 import served_offsets


def _probabilities(y, right):
    """Rows right where ``right`` is True (by a margin), wrong (the next class) elsewhere."""
    p = np.full((len(y), 4), 0.1)
    cls = np.where(right, y, (y + 1) % 4)
    p[np.arange(len(y)), cls] = 0.7
    return p


def test_choice_takes_af_within_the_macro_guard_and_ties_go_shipped():
    rng = np.random.default_rng(0)
    y = np.arange(400) % 4
    shipped = _probabilities(y, rng.random(400) < 0.8)
    better_af = shipped.copy()
    better_af[y == 1] = _probabilities(y[y == 1], np.ones((y == 1).sum(), bool))   # every AF right
    ruinous = _probabilities(y, (y == 1) | (rng.random(400) < 0.2))               # AF right, the rest wrong
    rows = np.ones(400, bool)
    assert reg.choose_setting({reg.SHIPPED: shipped, "twin": shipped.copy()}, y, rows) == reg.SHIPPED
    assert reg.choose_setting({reg.SHIPPED: shipped, "af": better_af}, y, rows) == "af"
    assert reg.choose_setting({reg.SHIPPED: shipped, "ruinous": ruinous}, y, rows) == reg.SHIPPED


def test_a_held_fifths_labels_never_reach_its_choice(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    y = np.arange(200) % 4
    lever = reg.BoosterRegularisation.__new__(reg.BoosterRegularisation)

    class _Lever:
        pass

    lever.lever, lever.work = _Lever(), tmp_path
    lever.lever.y = {"validation": y}
    lever.lever.deep = {"validation": np.full((200, 4), 0.25)}
    for name in reg.SETTINGS:
        np.save(tmp_path / f"validation_{name}.npy", rng.dirichlet(np.ones(4), 200))
    seen = []
    choose = reg.choose_setting
    monkeypatch.setattr(reg, "choose_setting", lambda recipes, labels, rows: seen.append(rows.copy())
                        or choose(recipes, labels, rows))
    result = {}
    lever.step_crossfit(result)
    out = result["crossfit"]
    assert len(seen) == 5 * out["repeats"]
    for r in range(out["repeats"]):                            # the parts of repeat r, in the order they were chosen
        fold = served_offsets.stratified_folds(y, 5, r)
        for f, rows in zip(np.unique(fold), seen[5 * r:5 * r + 5]):
            np.testing.assert_array_equal(rows, fold != f)
    assert sum(out["chosen_counts"].values()) == 5 * out["repeats"] and "kept" in out


def test_crossfit_before_fit_names_the_file(tmp_path):
    lever = reg.BoosterRegularisation.__new__(reg.BoosterRegularisation)

    class _Lever:
        y = {"validation": np.zeros(4, int)}
        deep = {"validation": np.full((4, 4), 0.25)}

    lever.lever, lever.work = _Lever(), tmp_path
    with pytest.raises(SystemExit, match=r"validation_shipped\.npy: not found: run --steps fit"):
        lever.step_crossfit({})


def test_compare_builds_only_when_not_below_the_served_figures(tmp_path, monkeypatch):
    import json

    y = np.arange(8) % 4
    lever = reg.BoosterRegularisation.__new__(reg.BoosterRegularisation)

    class _Lever:
        pass

    lever.lever, lever.work = _Lever(), tmp_path
    lever.lever.y, lever.lever.deep = {"validation": y}, {"validation": np.eye(4)[y]}
    for name in (reg.SHIPPED, "columns_half"):
        np.save(tmp_path / f"validation_{name}.npy", np.eye(4)[y])
    served = {"shipped": {"per_class_f1": {"A": 0.83}, "macro_f1": 0.80}}
    (tmp_path / "ship_results.json").write_text(json.dumps(served))
    monkeypatch.setattr(reg, "HERE", tmp_path)
    crossfit = {"kept": True, "chosen_counts": {reg.SHIPPED: 1, "columns_half": 9},
                "summary": {"A_f1": {"mean": 0.829}, "macro_f1": {"mean": 0.81}}}
    result = {"crossfit": crossfit}
    lever.step_compare(result)
    assert result["compare"]["chosen_most"] == "columns_half" and not result["compare"]["builds"]   # AF below
    crossfit["summary"]["A_f1"]["mean"] = 0.83
    lever.step_compare(result)
    assert result["compare"]["builds"]
    crossfit["kept"] = False
    lever.step_compare(result)
    assert not result["compare"]["builds"]

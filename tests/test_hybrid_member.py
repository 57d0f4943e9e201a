"""Issue 18's af71 (experiments/cinc2017/hybrid_member.py): the hybrid fold models' out-of-fold probabilities are
read in the lever's record order, a missing record stops with the file named, and hybrid.py trains hybrid (a) fold
models with cinc2017-keras' recipe."""
import types

import numpy as np
import pytest

from experiments.cinc2017 import hybrid as hybrid_script
from experiments.cinc2017 import hybrid_member as hm


def _lever(tmp_path, ids):
    lever = hm.HybridMember.__new__(hm.HybridMember)      # no committed tables: only what member reads
    lever.args = types.SimpleNamespace(hybrid_work=tmp_path)
    lever.ids = ids
    return lever


def test_member_rows_follow_the_levers_record_order(tmp_path):
    stored = np.array(["A03", "A01", "A02"])
    probabilities = np.eye(4)[[3, 1, 2]].astype(np.float32)
    np.savez(tmp_path / "deep_oof.npz", train_record_id=stored, train_probabilities=probabilities)
    member = _lever(tmp_path, ["A01", "A02", "A03"]).member
    np.testing.assert_array_equal(member.argmax(-1), [1, 2, 3])
    with pytest.raises(SystemExit, match="deep_oof.npz: no train row for 1 records"):
        _lever(tmp_path, ["A01", "A04"]).member
    with pytest.raises(SystemExit, match="not found"):
        _lever(tmp_path / "elsewhere", ["A01"]).member
    with pytest.raises(SystemExit, match="--hybrid-work"):
        _lever(None, ["A01"]).member


def test_hybrid_folds_train_with_the_keras_presets_recipe(tmp_path, monkeypatch):
    args = types.SimpleNamespace(work=str(tmp_path), k=2, epochs=12, deep_seed=42, model="hybrid",
                                 init_from="encoder", continue_from=None, data=str(tmp_path / "data"))
    runner = hybrid_script.Hybrid.__new__(hybrid_script.Hybrid)
    runner.args = args
    runner.fold_dirs = [tmp_path / "folds" / f"fold_{i}" for i in range(2)]
    runner.run_dirs = [tmp_path / "runs" / f"fold_{i}" for i in range(2)]
    calls = []
    monkeypatch.setattr(runner, "_finished", lambda run_dir: False, raising=False)
    monkeypatch.setattr(runner, "_run", lambda argv, name: calls.append(argv), raising=False)
    runner.step_finetune()
    assert len(calls) == 2
    argv = calls[0]
    assert argv[argv.index("--stage") + 1] == "hybrid" and argv[argv.index("--init-from") + 1] == "encoder"
    assert "--no-class-weights" in argv and argv[argv.index("--encoder-warmup-epochs") + 1] == "1"
    assert argv[argv.index("--epochs") + 1] == "12" and argv[argv.index("--data") + 1].endswith("fold_0")

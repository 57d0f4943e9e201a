"""experiments/cinc2017/af_lever.py's decision offsets (step ``offsets``, issue 18)."""
import numpy as np
from sklearn.metrics import f1_score

from experiments.cinc2017 import af_lever


def test_macro_f1_is_sklearns():
    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    pred[pred == 3] = 2                                              # a class never predicted: F1 0
    assert af_lever._macro_f1(y, pred) == np.float64(f1_score(y, pred, labels=range(4), average="macro",
                                                              zero_division=0))


def test_choose_offsets_moves_an_under_called_class_and_keeps_n_at_zero():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 2000)
    logit = rng.normal(size=(2000, 4))
    logit[np.arange(2000), y] += 1.5
    logit[:, 1] -= 0.8                                                # class 1 (A) called too rarely
    logp = logit - np.log(np.exp(logit).sum(1, keepdims=True))
    b = af_lever.choose_offsets(logp, y)
    assert b[0] == 0 and b[1] > 0.3 and b.shape == (4,)
    assert set(np.round(b, 6)) <= set(np.round(af_lever.OFFSET_GRID, 6))
    assert af_lever._macro_f1(y, (logp + b).argmax(-1)) > af_lever._macro_f1(y, logp.argmax(-1)) + 0.01
    fair = logp.copy()
    fair[:, 1] += 0.8                                                 # calibrated: offsets stay near 0
    assert np.abs(af_lever.choose_offsets(fair, y)).max() <= 0.3


def test_extra_seed_sets_have_their_own_reference_row():
    """Step ``extra``: 42-44 and 45-47 keep their keys; any other seed set gets its own key and a reference row
    of the shipped recipe on the same seeds, computed once."""
    calls = []

    class Stub:
        result = {}

        def cv_row(self, tag, params, seeds):
            calls.append((tag, params, list(seeds)))
            return {"seeds": list(seeds)}

    stub = Stub()
    assert af_lever.Lever.seed_set_keys(stub, af_lever.SEEDS) == ("extra", "base")
    assert af_lever.Lever.seed_set_keys(stub, af_lever.FRESH) == ("extra_fresh_seeds", "base_fresh_seeds")
    assert calls == []
    for _ in range(2):
        assert af_lever.Lever.seed_set_keys(stub, [48, 49, 50]) == ("extra_seeds_48_49_50", "base_seeds_48_49_50")
    assert calls == [("base", af_lever.BASE, [48, 49, 50])]
    assert stub.result["base_seeds_48_49_50"] == {"seeds": [48, 49, 50]}

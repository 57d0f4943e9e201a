"""Issue 18's af47 (experiments/cinc2017/tree_diversity.py): every variant's LightGBM setting trains through the
package's StackedClassifier and survives LightGBM's text format (what a preset stores), and a variant's booster side
is the mean of its boosters' out-of-fold outputs."""
import numpy as np
import pytest

from experiments.cinc2017 import tree_diversity
from experiments.cinc2017.hybrid import COMMON

lgb = pytest.importorskip("lightgbm")


@pytest.mark.parametrize("tag,params", [(t, p) for v in tree_diversity.VARIANTS.values() for t, p in v.items()])
def test_each_setting_trains_and_round_trips_lightgbm_text(tag, params):
    from ecgsl_keras.modeling.stacking import StackedClassifier

    rng = np.random.default_rng(1)
    y = np.arange(400) % 4
    X = rng.normal(size=(400, 6)) + np.eye(4, 6)[y] * 2.0
    params = dict(COMMON, **dict(params, num_boost_round=20))
    clf = StackedClassifier([f"f{i}" for i in range(6)], [], ["N", "A", "O", "~"], params=params, seed=42).fit(X, y)
    p = clf.booster.predict(X)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-9)
    assert (p.argmax(1) == y).mean() > 0.8                               # it learns the separable classes
    again = lgb.Booster(model_str=clf.booster.model_to_string())
    np.testing.assert_allclose(again.predict(X), p, rtol=0, atol=1e-12)


def test_booster_side_is_the_mean_of_the_variants_boosters():
    rng = np.random.default_rng(2)
    outputs = {tag: rng.dirichlet(np.ones(4), 7) for tag in ("base", "rf", "et", "dart")}

    class _Lever:
        def oof(self, tag, params, seed):
            return outputs[tag]

    side = tree_diversity.booster_side(_Lever(), "rf_member", 42)
    np.testing.assert_allclose(side, 0.5 * (outputs["base"] + outputs["rf"]))
    np.testing.assert_allclose(tree_diversity.booster_side(_Lever(), "extra_trees", 42), outputs["et"])

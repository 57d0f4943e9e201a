"""Issue 18 lever: tune the probability average on the TRAINING split's out-of-fold outputs.

    python experiments/cinc2017/blend_tuning.py [--work /work/runs/hybrid]

For each booster seed: out-of-fold features-booster probabilities of the training records (the same 5 folds as
the deep fold models, ``WORK/folds/assignment.json``), with the out-of-fold ECG-SL probabilities
(``WORK/deep_oof.npz``): the deep weight w (0..1, step 0.05) and then per-class log-probability offsets
(coordinate ascent) that maximise the out-of-fold macro F1. Validation (1,364 records): the plain average
(w = 0.5), the tuned w, and the tuned w with the offsets. Nothing is chosen on validation.
Writes ``blend_tuning_results.json`` beside this file; the last line of stdout is one JSON object.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from experiments.cinc2017.features import LABELS  # noqa: E402
from experiments.cinc2017.hybrid import COMMON  # noqa: E402

WEIGHTS = np.arange(0, 1.01, 0.05)       # deep weight w
OFFSETS = np.arange(-1, 1.01, 0.05)      # per-class log-probability offsets
SWEEPS = 3


def macro_f1(y, scores) -> float:
    from sklearn.metrics import f1_score

    return f1_score(y, scores.argmax(-1), average="macro")


def choose_offsets(y, p) -> np.ndarray:
    """Per-class offsets on log p, coordinate ascent (SWEEPS sweeps over the classes), best macro F1."""
    logp, off = np.log(p + 1e-9), np.zeros(p.shape[1])
    for _ in range(SWEEPS):
        for c in range(p.shape[1]):
            scores = [macro_f1(y, logp + off + np.eye(p.shape[1])[c] * (o - off[c])) for o in OFFSETS]
            off[c] = OFFSETS[int(np.argmax(scores))]
    return off


def main() -> int:
    from ecgsl_keras.modeling.stacking import StackedClassifier

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="/work/runs/hybrid")
    args = parser.parse_args()
    work = Path(args.work)
    deep = np.load(work / "deep_oof.npz")
    features = np.load(work / "features" / "features.npz", allow_pickle=True)
    row_of = {str(r): i for i, r in enumerate(features["record_id"])}
    fold_of = json.loads((work / "folds" / "assignment.json").read_text())
    params = json.loads((work / "boost_rows.json").read_text())["features"]["params"]

    def part(split):
        ids = [str(r) for r in deep[f"{split}_record_id"]]
        keep = [i for i, r in enumerate(ids) if r in row_of and features["status"][row_of[r]] == "ok"]
        ids = [ids[i] for i in keep]
        return (ids, features["X"][[row_of[r] for r in ids]], deep[f"{split}_probabilities"][keep],
                deep[f"{split}_targets"][keep].astype(int))

    train_ids, tX, tP, ty = part("train")
    _, vX, vP, vy = part("validation")
    print(len(train_ids), len(vy), file=sys.stderr)
    folds = np.array([fold_of[r] for r in train_ids])

    def booster(seed):
        return StackedClassifier(list(features["names"]), [], LABELS, params=dict(COMMON, **params), seed=seed)

    res = {}
    for seed in (42, 43, 44):
        oof = np.zeros_like(tP)
        for k in range(5):
            m = folds == k
            oof[m] = booster(seed).fit(tX[~m], ty[~m]).predict_proba(tX[m])
        vB = booster(seed).fit(tX, ty).predict_proba(vX)
        oof_scores = [macro_f1(ty, (1 - w) * oof + w * tP) for w in WEIGHTS]
        best = int(np.argmax(oof_scores))      # the first of equal scores, as the grid runs upward
        w = WEIGHTS[best]
        off = choose_offsets(ty, (1 - w) * oof + w * tP)
        blended = (1 - w) * vB + w * vP
        r = dict(w=float(w), oof_w=oof_scores[best], oof_off=macro_f1(ty, np.log((1 - w) * oof + w * tP + 1e-9) + off),
                 off=off.tolist(), val_half=macro_f1(vy, 0.5 * vB + 0.5 * vP), val_w=macro_f1(vy, blended),
                 val_w_off=macro_f1(vy, np.log(blended + 1e-9) + off), val_feat=macro_f1(vy, vB),
                 oof_feat=macro_f1(ty, oof), oof_deep=macro_f1(ty, tP))
        print(seed, r, file=sys.stderr)
        res[seed] = r
    out = {"command": "python experiments/cinc2017/blend_tuning.py --work " + args.work, "seeds": res}
    (HERE / "blend_tuning_results.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
parser = argparse.ArgumentParser()
parser.add_argument("--work", default="/work/runs/hybrid")
args = parser.parse_args()
from sklearn.metrics import f1_score
from ecgsl_keras.modeling.stacking import StackedClassifier
W=args.work.rstrip('/')+'/'
LABELS=['N','A','O','~']
d=np.load(W+'deep_oof.npz'); f=np.load(W+'features/features.npz', allow_pickle=True)
frow={str(r):i for i,r in enumerate(f['record_id'])}
fold_of=json.load(open(W+'folds/assignment.json'))
params=json.load(open(W+'boost_rows.json'))['features']['params']
COMMON={"bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.8}
def part(split):
    ids=[str(r) for r in d[f'{split}_record_id']]
    keep=[i for i,r in enumerate(ids) if r in frow and f['status'][frow[r]]=='ok']
    ids=[ids[i] for i in keep]
    return ids, f['X'][[frow[r] for r in ids]], d[f'{split}_probabilities'][keep], d[f'{split}_targets'][keep].astype(int)
tid,tX,tP,ty=part('train'); vid,vX,vP,vy=part('validation')
print(len(tid),len(vid), file=sys.stderr)
folds=np.array([fold_of[r] for r in tid])
def booster(seed): return StackedClassifier(list(f['names']),[],LABELS,params=dict(COMMON,**params),seed=seed)
res={}
for seed in [42,43,44]:
    oofB=np.zeros_like(tP)
    for k in range(5):
        m=folds==k
        oofB[m]=booster(seed).fit(tX[~m],ty[~m]).predict_proba(tX[m])
    vB=booster(seed).fit(tX,ty).predict_proba(vX)
    def mf(y,p): return f1_score(y,p.argmax(-1),average='macro')
    best=None
    for w in np.arange(0,1.01,0.05):
        s=mf(ty,(1-w)*oofB+w*tP)
        if best is None or s>best[0]: best=(s,w)
    w=best[1]
    P=(1-w)*oofB+w*tP; off=np.zeros(4)
    for it in range(3):
        for c in range(4):
            cands=np.arange(-1,1.01,0.05)
            sc=[mf(ty,np.log(P+1e-9)+np.where(np.arange(4)==c,o,off)*1) if False else f1_score(ty,(np.log(P+1e-9)+off+np.eye(4)[c]*(o-off[c])).argmax(-1),average='macro') for o in cands]
            off[c]=cands[int(np.argmax(sc))]
    oofs=f1_score(ty,(np.log(P+1e-9)+off).argmax(-1),average='macro')
    vPb=(1-w)*vB+w*vP
    r=dict(w=float(w), oof_w=best[0], oof_off=oofs, off=off.tolist(),
           val_half=mf(vy,0.5*vB+0.5*vP), val_w=mf(vy,vPb), val_w_off=f1_score(vy,(np.log(vPb+1e-9)+off).argmax(-1),average='macro'),
           val_feat=mf(vy,vB), oof_feat=mf(ty,oofB), oof_deep=mf(ty,tP))
    print(seed, r, file=sys.stderr); res[seed]=r
out={'command': 'python experiments/cinc2017/blend_tuning.py --work '+args.work, 'seeds': res}
(HERE/'blend_tuning_results.json').write_text(json.dumps(out, indent=1)+'\n')
print(json.dumps(out))

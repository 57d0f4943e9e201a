#!/usr/bin/env bash
# ECG-SL on the CinC 2017 training records: prepare -> autoencoder -> masked -> finetune, plus the
# supervised (no pre-training) ablation; each evaluated on the stratified validation split.
# Usage: experiments/cinc2017_full.sh path/to/training2017 OUT_DIR [EPOCH_SCALE]
set -euo pipefail
data_dir=${1:?CinC 2017 training2017 folder}
out=${2:?output folder}
scale=${3:-1}
export TF_CPP_MIN_LOG_LEVEL=2
mkdir -p "$out"
[ -f "$out/data/manifest.json" ] || python -m ecgsl_keras.prepare --dataset cinc2017 --data-dir "$data_dir" \
    --out "$out/data" --workers 2 --no-progress | tail -1 > "$out/prepare.json"
python -m ecgsl_keras.train --stage autoencoder --data "$out/data" --run-dir "$out/autoencoder" \
    --epochs $((3 * scale)) --batch-size 256 --seed 42 --verbose 2
python -m ecgsl_keras.train --stage masked --data "$out/data" --run-dir "$out/masked" \
    --init-from "$out/autoencoder" --epochs $((8 * scale)) --batch-size 32 --seed 42 --verbose 2
python -m ecgsl_keras.train --stage finetune --data "$out/data" --run-dir "$out/finetune" \
    --init-from "$out/masked" --epochs $((15 * scale)) --batch-size 32 --patience 6 --seed 42 --verbose 2
python -m ecgsl_keras.train --stage supervised --data "$out/data" --run-dir "$out/supervised" \
    --epochs $((15 * scale)) --batch-size 32 --patience 6 --seed 42 --verbose 2
for run in finetune supervised; do
    python -m ecgsl_keras.evaluate --model "$out/$run/model.keras" --data "$out/data" --split validation \
        | tail -1 > "$out/$run/evaluate_validation.json"
done
python - "$out" <<'PY'
import json, sys
out = sys.argv[1]
rows = {run: json.load(open(f"{out}/{run}/evaluate_validation.json")) for run in ("finetune", "supervised")}
print(json.dumps({run: {k: r.get(k) for k in ("macro_f1", "challenge_f1", "auroc", "accuracy", "per_class_f1")}
                  for run, r in rows.items()}))
PY

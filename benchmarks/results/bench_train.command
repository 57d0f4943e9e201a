# benchmarks/results/bench_train.json (2026-12-03, 2-core CPU shared with other jobs, load average 6.6-11.1; from the repository root)
python -m ecgsl_keras.prepare --dataset cinc2017 --data-dir /work/shared/data/cinc2017/training2017 --out /work/runs/cinc2017_prepared --workers 1
python -m ecgsl_keras.bench train --data /work/runs/cinc2017_prepared --repeats 3 --min-seconds 10 | tail -1 > benchmarks/results/bench_train.json
# benchmarks/results/bench_train_gather_scatter.json (same day, load average 6.5-8.3)
PYTHONPATH=. python experiments/gather_scatter_beat_encoder.py --data /work/runs/cinc2017_prepared --batches 30 --repeats 5 > benchmarks/results/bench_train_gather_scatter.json

"""CPU time of signal.find_rpeaks on the 22 DS1 records (run s33, issue 21): today's default, run s32's chosen point and
the point most folds of run s33 chose (``most_chosen`` of ``--results``; experiments/rpeaks/pvc_run.py ``points``),
interleaved in a rotating order, 3 repeats, one process; the issue's limit is 1.3x today's detector.

    python experiments/rpeaks/pvc_run_speed.py --data-dir /work/shared/data/mitdb > benchmarks/results/rpeaks_loro_s33_speed.json
"""
import json
import sys

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import t_wave  # noqa: E402
from pvc_run import S32, points  # noqa: E402

print(json.dumps(t_wave.chosen_point_speed(__doc__, "pvc_run_speed.py", "benchmarks/results/rpeaks_loro_s33.json",
                                            points, {"today": (SignalConfig(), G.GUARD), "s32_chosen": S32},
                                            "s33_chosen", most_chosen=True)))

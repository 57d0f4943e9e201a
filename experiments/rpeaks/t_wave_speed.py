"""CPU time of signal.find_rpeaks on the 22 DS1 records (run s30, issue 21): the detector before the guard
(``bench.rpeaks.LEGACY``), today's default, run s28's point, run s29's chosen cluster rescue and the point most folds of
run s30 chose (``choice_counts`` of ``--results``; experiments/rpeaks/t_wave.py ``points``), interleaved in a rotating
order, 3 repeats, one process; the issue's limit is 1.3x today's detector.

    python experiments/rpeaks/t_wave_speed.py --data-dir /work/shared/data/mitdb > benchmarks/results/rpeaks_loro_s30_speed.json
"""
import dataclasses
import json
import sys

from ecgsl_keras.bench.rpeaks import LEGACY
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import t_wave  # noqa: E402
from t_wave import OFF, S29, points  # noqa: E402

today = SignalConfig()
print(json.dumps(t_wave.chosen_point_speed(
    __doc__, "t_wave_speed.py", "benchmarks/results/rpeaks_loro_s30.json", points,
    {"before_guard": (dataclasses.replace(today, **LEGACY), G.GUARD), "today": (today, G.GUARD), "s28": OFF,
     "s29_cluster": S29}, "s30_chosen", ratio_to=("before_guard", "today"))))

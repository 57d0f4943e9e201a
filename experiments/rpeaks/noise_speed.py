"""CPU time of signal.find_rpeaks on the 22 DS1 records (run s32, issue 21): today's default, run s28's point, run s30's
and run s31's chosen points and the point most folds of run s32 chose (``choice_counts`` of ``--results``;
experiments/rpeaks/noise.py ``points``), interleaved in a rotating order, 3 repeats, one process; the issue's limit is
1.3x today's detector.

    python experiments/rpeaks/noise_speed.py --data-dir /work/shared/data/mitdb > benchmarks/results/rpeaks_loro_s32_speed.json
"""
import json
import sys

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import t_wave  # noqa: E402
from noise import OFF, S30, S31, points  # noqa: E402

print(json.dumps(t_wave.chosen_point_speed(__doc__, "noise_speed.py", "benchmarks/results/rpeaks_loro_s32.json", points,
                                            {"today": (SignalConfig(), G.GUARD), "s28": OFF, "s30_chosen": S30,
                                             "s31_chosen": S31}, "s32_chosen")))

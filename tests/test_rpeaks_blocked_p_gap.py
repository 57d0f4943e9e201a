"""Run s64 (issue 21): the blocked-P-wave check's gap (``GuardConstants.blocked_p_gap``), set through
``SignalConfig.rpeak_guard_constants``. A 2:1 block keeps a blocked beat's P wave (or the noise of its span) in a gap
of about one local RR; a true beat that the check drops in block21 sits in a wider one."""
import dataclasses

import numpy as np

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard

FS = 360.0


def _wave(x, at, amplitude, sigma):
    t = np.arange(-int(4 * sigma), int(4 * sigma) + 1)
    x[at + t] += amplitude * np.exp(-0.5 * (t / sigma) ** 2)


def _block_train():
    """Conducted beats of a 2:1 block (RR 1.6 s, each with its P wave 0.16 s before it); in one gap of 2.2 s (1.375 x
    the local RR) a small ectopic beat of its own shape late in it; in a gap of one local RR a small bump shaped like
    no beat. Returns (signal, peaks, the ectopic beat, the bump)."""
    beats = list(np.arange(1.0, 40.0, 1.6))
    beats = [b if b < 20.0 else b + 0.6 for b in beats]                # the one wider gap: 18.6 -> 20.8 s
    x = np.zeros(int(45 * FS))
    peaks = []
    for b in beats:
        r = int(round(b * FS))
        _wave(x, r, 1.0, 4.0)                                            # a narrow QRS
        _wave(x, r - int(0.16 * FS), 0.12, 12.0)                        # its P wave
        peaks.append(r)
    ectopic = int(round((18.6 + 0.55 * 2.2) * FS))
    _wave(x, ectopic, 0.35, 7.0)                                         # wider, smaller, no P wave
    _wave(x, ectopic + int(0.05 * FS), -0.2, 7.0)                       # a biphasic ventricular shape
    bump = int(round((27.2 + 0.6 * 1.6) * FS))
    _wave(x, bump, 0.3, 3.0)
    _wave(x, bump - int(0.03 * FS), -0.25, 3.0)
    peaks = np.sort(np.array(peaks + [ectopic, bump], np.int64))
    return x, peaks, ectopic, bump


def test_a_narrower_blocked_p_gap_keeps_a_small_beat_in_a_wide_gap_and_still_drops_the_bump():
    x, peaks, ectopic, bump = _block_train()
    shipped = rpeak_guard.GUARD
    assert shipped.blocked_p_gap == 1.5
    dropped = peaks[rpeak_guard.blocked_p_wave(peaks, x, FS, 0.8, dataclasses.replace(shipped, blocked_p_unlike=0.9))]
    assert set(dropped.tolist()) == {ectopic, bump}                     # 1.375 <= 1.5: the beat is taken for a P wave
    narrow = rpeak_guard.constants_for(SignalConfig(rpeak_guard_constants={"blocked_p_unlike": 0.9,
                                                                           "blocked_p_gap": 1.3}))
    dropped = peaks[rpeak_guard.blocked_p_wave(peaks, x, FS, 0.8, narrow)]
    assert dropped.tolist() == [bump]                                    # the bump's gap is one local RR
    # the conducted beats are never dropped
    assert not np.isin(peaks[(peaks != ectopic) & (peaks != bump)], dropped).any()

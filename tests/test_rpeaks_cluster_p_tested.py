"""Run s65b (issue 21): the cluster rescue's P-tested low floor (``GuardConstants.cluster_low_amplitude`` and
``cluster_p_wave``, set through ``SignalConfig.rpeak_guard_constants``; off by default). Lowering the rescue's floor
alone (run s65a) keeps a small beat whose shape repeats, but also a blocked P wave where the record has beats of that
shape; the P-tested floor keeps the first and refuses the second, which is shaped and sized like the record's P wave."""
import numpy as np
import pytest

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.serving import edge

FS = 360.0


def _wave(x, at, amplitude, sigma):
    t = np.arange(-int(4 * sigma), int(4 * sigma) + 1)
    x[at + t] += amplitude * np.exp(-0.5 * (t / sigma) ** 2)


def _qrs(x, at, amplitude):
    """A narrow biphasic QRS (R, then S 25 ms later)."""
    _wave(x, at, amplitude, 4.0)
    _wave(x, at + int(0.025 * FS), -0.5 * amplitude, 4.0)


def _train():
    """Beats every 0.8 s: conducted beats (a narrow biphasic QRS with its P wave 0.16 s before it) and, every fourth, a
    wide monophasic beat without a P wave, shaped like a P wave but four times its size. Beat 22 is blocked (only its
    P wave is left); beat 30 is a conducted beat at 0.22 x the size of the others. Returns (signal, peaks, the small
    beat, the blocked P wave)."""
    x = np.zeros(int(60 * FS))
    peaks, small, blocked = [], None, None
    for i, t in enumerate(np.arange(1.0, 56.0, 0.8)):
        r = int(round(t * FS))
        p = r - int(0.16 * FS)
        if i % 4 == 3:
            _wave(x, r, 1.0, 12.0)
            peaks.append(r)
            continue
        _wave(x, p, 0.25, 12.0)
        if i == 22:
            blocked = p
            peaks.append(p)
            continue
        _qrs(x, r, 0.22 if i == 30 else 1.0)
        small = r if i == 30 else small
        peaks.append(r)
    return x, np.array(peaks, np.int64), small, blocked


def _guarded(x, peaks, **overrides):
    config = SignalConfig(rpeak_rescue_cluster=0.9, rpeak_searchback=0.0, rpeak_guard_constants=overrides)
    return rpeak_guard.guard_rpeaks(peaks, x, x, FS, config)


def test_the_fixture_sits_where_the_test_decides():
    x, peaks, small, blocked = _train()
    constants = rpeak_guard.GUARD
    assert constants.cluster_low_amplitude == 0.0 and constants.cluster_p_wave == 0.0     # off by default
    amplitude = rpeak_guard.qrs_amplitudes(x, peaks, FS)
    lag, template = rpeak_guard.record_p_wave(peaks, x, FS, constants, amplitude)
    assert abs(lag / FS - 0.16) < 0.01
    correlation, size = rpeak_guard.p_wave_match(x, np.array([small, blocked]), FS, template, constants)
    assert correlation[0] < 0.7 <= correlation[1]           # the small beat is QRS-shaped, the blocked one P-shaped
    assert 0.5 <= size[1] <= 2.0
    at = np.searchsorted(peaks, [small, blocked])
    assert rpeak_guard.p_wave_shaped(peaks, x, FS, at, 0.7, constants, amplitude).tolist() == [False, True]


def test_the_p_tested_floor_keeps_the_small_repeated_beat_and_refuses_the_p_shaped_peak():
    x, peaks, small, blocked = _train()
    others = peaks[(peaks != small) & (peaks != blocked)]
    shipped = _guarded(x, peaks)
    assert small not in shipped and blocked not in shipped and np.isin(others, shipped).all()
    # off unless both constants are set: today's peaks
    assert np.array_equal(_guarded(x, peaks, cluster_low_amplitude=0.2), shipped)
    assert np.array_equal(_guarded(x, peaks, cluster_p_wave=0.7), shipped)
    # run s65a's lever (the floor lowered, no test) keeps both
    lowered = _guarded(x, peaks, cluster_amplitude=0.2)
    assert small in lowered and blocked in lowered
    tested = _guarded(x, peaks, cluster_low_amplitude=0.2, cluster_p_wave=0.7)
    assert tested.tolist() == sorted(shipped.tolist() + [small])
    # the floor decides too: at 0.25 the small beat (0.22 x its cluster) stays out
    assert np.array_equal(_guarded(x, peaks, cluster_low_amplitude=0.25, cluster_p_wave=0.7), shipped)


@pytest.mark.parametrize("overrides", [{"cluster_low_amplitude": 0.2, "cluster_p_wave": 0.7}])
def test_the_graph_refuses_the_p_tested_floor(overrides):
    with pytest.raises(ConfigError, match="GuardConstants"):
        edge.check_config(SignalConfig(rpeak_guard_constants=overrides), edge.EdgeConfig())

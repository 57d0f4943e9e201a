"""Run s62 (issue 21): ``SignalConfig.rpeak_rescue_wide_aligned`` / ``rpeak_guard.wide_aligned_like``: a small early
wide beat whose candidate sits on the other lobe of its QRS, under run s61's 0.25 floor there, is moved to where it lines
up with the record's wide morphologies and kept there when it is shaped like them and large enough at that position;
off by default, validated."""
import dataclasses

import numpy as np
import pytest

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G
from ecgsl_keras.errors import ConfigError

FS = 360.0
LOBE_S = 0.075      # the biphasic PVC's negative lobe follows its positive one by this (within wide_align_s)


def _signal(gain=0.28):
    """40 s at 75/min: narrow beats of 1 (a small S after R), six premature wide biphasic PVCs of the same size (0.25 s
    early), one PVC of that shape scaled to ``gain``, 0.25 s early, whose candidate is its NEGATIVE lobe (``small``, the
    candidate; ``centre``, its positive lobe, where the record's PVCs' candidates sit), and the same small shape 0.25 s
    AFTER a beat, late in its gap (``late``, its candidate on the negative lobe too)."""
    t = np.arange(int(40 * FS))
    gauss = lambda c, a, w: a * np.exp(-0.5 * ((t - c) / (w * FS)) ** 2)  # noqa: E731
    pvc = lambda c, g: g * (gauss(c, 1.0, 0.02) - gauss(c + LOBE_S * FS, 0.5, 0.02))  # noqa: E731
    beats = list(np.arange(int(0.5 * FS), t.size - int(0.5 * FS), int(0.8 * FS)))
    early = int(0.25 * FS)
    pvcs = [beats[i] - early for i in (6, 12, 18, 24, 30, 36)]
    centre, late_centre = beats[42] - early, beats[45] + early
    narrow = [b for i, b in enumerate(beats) if i not in (6, 12, 18, 24, 30, 36, 42, 45)]
    x = sum(gauss(b, 1.0, 0.010) - gauss(b + 0.03 * FS, 0.2, 0.01) for b in narrow)
    x = x + sum(pvc(c, 1.0) for c in pvcs) + pvc(centre, gain) + pvc(late_centre, gain)
    x = x + 0.005 * np.random.default_rng(0).standard_normal(t.size)
    lobe = int(round(LOBE_S * FS))
    small, late = centre + lobe, late_centre + lobe
    return x, np.unique(np.array(narrow + pvcs + [small, late, beats[45]])), small, late, centre


def _align(x):
    return lambda at, shapes: G.aligned_shapes(x, FS, at, shapes)


def test_a_small_early_wide_beat_on_its_other_lobe_is_moved_and_kept_and_a_late_one_is_not():
    x, peaks, small, late, centre = _signal()
    amplitude, sharpness, width = G.qrs_shapes(x, peaks, FS)
    reference = G.amplitude_reference(peaks, amplitude, peaks)
    ratio = amplitude / reference
    # at its candidate (the negative lobe) it is under run s61's floor (rescue_amplitude) but over the cluster floor,
    # and wide; where it lines up with the PVCs (its positive lobe) it is over rescue_amplitude
    for at in (small, late):
        assert G.GUARD.cluster_floor <= ratio[peaks == at][0] < G.GUARD.rescue_amplitude
        assert width[peaks == at][0] > G.GUARD.rescue_width * np.median(width)
    assert G.qrs_amplitudes(x, [centre], FS)[0] / reference[peaks == small][0] >= G.GUARD.rescue_amplitude
    windows = G.qrs_windows(x, peaks, FS, G.GUARD.cluster_window_s)
    off = G.guard_keep(peaks, amplitude, sharpness, width, 0.35, windows=windows)
    assert not off[peaks == small][0] and not off[peaks == late][0]
    # run s61's rescue does not reach it (its candidate is under the 0.25 floor)
    s61 = G.guard_keep(peaks, amplitude, sharpness, width, 0.35, windows=windows, wide_templates=0.9)
    assert not s61[peaks == small][0]
    for c in (0.9, 0.95):
        moved = np.full(peaks.size, -1, np.int64)
        on = G.guard_keep(peaks, amplitude, sharpness, width, 0.35, windows=windows, wide_aligned=c,
                          align=_align(x), moved=moved)
        assert on[peaks == small][0] and not on[peaks == late][0]
        # it only adds, and the one it adds is moved (from 75 ms away) to within 10 ms of its positive lobe, where the
        # record's PVCs sit
        assert np.all(on[off]) and on.sum() == off.sum() + 1
        assert abs(int(moved[peaks == small][0]) - centre) <= int(0.01 * FS) and np.all(moved[peaks != small] == -1)
    # through guard_rpeaks: the option's windows are computed even without the cluster rescue, the peak is moved
    config = dataclasses.replace(SignalConfig(), rpeak_guard_amplitude=0.35, rpeak_searchback=0.0)
    kept_off = G.guard_rpeaks(peaks, x, x, FS, config)
    kept_on = G.guard_rpeaks(peaks, x, x, FS, dataclasses.replace(config, rpeak_rescue_wide_aligned=0.9))
    assert small not in kept_off and centre not in kept_off
    added = np.setdiff1d(kept_on, kept_off)
    assert added.size == 1 and abs(int(added[0]) - centre) <= int(0.01 * FS) and late not in kept_on
    assert np.all(np.diff(kept_on) > 0)


def test_a_small_wide_beat_too_small_where_it_lines_up_is_not_kept():
    # the same beat at a gain where even its positive lobe is under rescue_amplitude x the reference: the floor is
    # lowered at the candidate only
    x, peaks, small, _, centre = _signal(gain=0.2)
    amplitude, sharpness, width = G.qrs_shapes(x, peaks, FS)
    reference = G.amplitude_reference(peaks, amplitude, peaks)
    assert G.qrs_amplitudes(x, [centre], FS)[0] / reference[peaks == small][0] < G.GUARD.rescue_amplitude
    windows = G.qrs_windows(x, peaks, FS, G.GUARD.cluster_window_s)
    on = G.guard_keep(peaks, amplitude, sharpness, width, 0.35, windows=windows, wide_aligned=0.9, align=_align(x))
    assert not on[peaks == small][0]


def test_wide_aligned_option_is_off_by_default_and_validated():
    assert SignalConfig().rpeak_rescue_wide_aligned == 0.0
    for bad in (-0.1, 1.5):
        with pytest.raises(ConfigError, match="rpeak_rescue_wide_aligned"):
            SignalConfig(rpeak_rescue_wide_aligned=bad).validate()
    SignalConfig(rpeak_rescue_wide_aligned=0.9).validate()

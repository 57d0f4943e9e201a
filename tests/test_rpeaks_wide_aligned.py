"""Run s62 (issue 21): ``SignalConfig.rpeak_rescue_wide_aligned`` / ``rpeak_guard.wide_aligned_like``: a small early
wide beat whose candidate sits on the other lobe of its QRS, under run s61's 0.25 floor there, is moved to where it lines
up with the record's wide morphologies and kept there when it is shaped like them and large enough at that position;
off by default, validated. Run s63: ``rpeak_rescue_wide_aligned_contrast``, such a peak kept only when it stands out of its
surroundings (``rpeak_guard.surroundings_amplitude``): a noise bump inside a pause is not, a coupled small PVC is."""
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


PAUSE = (26, 27, 28)    # _pause_signal: the beats a pause of 3.2 s replaces (after beats[25])
BUMP_S = 0.6            # the bump's positive lobe this long after the beat before the pause: early in the gap


def _pause_signal(gain=0.28, noise=0.5):
    """``_signal``'s record with a pause where beats ``PAUSE`` were: from 0.4 s after the beat before it (past its T wave)
    the span holds noise, an 8 Hz wave of ``noise`` x ``gain`` (the record's noise in a built pause), and, early in the
    gap, a bump shaped as the record's PVCs at ``gain`` whose candidate is its negative lobe (as ``small``): it lines up
    with the PVCs as the small PVC does, but does not stand out of the noise around it. The wave stops 0.14 s each side
    of the bump (its own window is clean, so its shape is a PVC's). Returns ``(signal, peaks, small, bump, bump's
    positive lobe)``."""
    x, peaks, small, _, _ = _signal(gain)
    t = np.arange(x.size)
    beats = list(np.arange(int(0.5 * FS), t.size - int(0.5 * FS), int(0.8 * FS)))
    gauss = lambda c, a, w: a * np.exp(-0.5 * ((t - c) / (w * FS)) ** 2)  # noqa: E731
    for i in PAUSE:   # the pause: the narrow beats there are taken out of the signal and the candidates
        x = x - gauss(beats[i], 1.0, 0.010) + gauss(beats[i] + 0.03 * FS, 0.2, 0.01)
    peaks = peaks[~np.isin(peaks, [beats[i] for i in PAUSE])]
    centre = beats[PAUSE[0] - 1] + int(BUMP_S * FS)
    lobe = int(round(LOBE_S * FS))
    x = x + gain * (gauss(centre, 1.0, 0.02) - gauss(centre + lobe, 0.5, 0.02))
    span = (t > beats[PAUSE[0] - 1] + 0.4 * FS) & (t < beats[PAUSE[-1] + 1] - 0.25 * FS)
    span &= np.abs(t - (centre + lobe // 2)) > 0.14 * FS
    x = x + np.where(span, noise * gain * np.sin(2 * np.pi * 8.0 * t / FS), 0.0)
    bump = centre + lobe
    return x, np.unique(np.append(peaks, bump)), small, bump, centre


def test_contrast_refuses_a_noise_bump_inside_a_pause_and_keeps_a_coupled_small_wide_beat():
    # run s63: the bump lines up with the record's PVCs as run s62's false beats did (early in its gap, shaped like them
    # at 0.9 and over the floors where it lines up), so run s62's rescue keeps it; it is as large as the noise around it,
    # while the small PVC (0.25 s early, after a beat, in quiet signal) stands out of its surroundings many times
    x, peaks, small, bump, centre = _pause_signal()
    amplitude, sharpness, width = G.qrs_shapes(x, peaks, FS)
    windows = G.qrs_windows(x, peaks, FS, G.GUARD.cluster_window_s)
    surroundings = lambda at: G.surroundings_amplitude(x, FS, at)  # noqa: E731
    assert G.qrs_amplitudes(x, [centre], FS)[0] < 1.5 * surroundings([centre])[0]
    assert G.qrs_amplitudes(x, [small - int(round(LOBE_S * FS))], FS)[0] >= 3.0 * surroundings(
        [small - int(round(LOBE_S * FS))])[0]
    s62 = G.guard_keep(peaks, amplitude, sharpness, width, 0.35, windows=windows, wide_aligned=0.9, align=_align(x))
    assert s62[peaks == small][0] and s62[peaks == bump][0]
    for c in (1.5, 2.0, 3.0):
        moved = np.full(peaks.size, -1, np.int64)
        on = G.guard_keep(peaks, amplitude, sharpness, width, 0.35, windows=windows, wide_aligned=0.9,
                          align=_align(x), moved=moved, wide_aligned_contrast=c, surroundings=surroundings)
        assert on[peaks == small][0] and not on[peaks == bump][0]
        assert moved[peaks == bump][0] == -1 and np.array_equal(on, s62 & (peaks != bump))
    with pytest.raises(ValueError, match="surroundings"):
        G.guard_keep(peaks, amplitude, sharpness, width, 0.35, windows=windows, wide_aligned=0.9, align=_align(x),
                     wide_aligned_contrast=1.5)
    # through guard_rpeaks: the bump is added by run s62's option, not with the contrast test; the small PVC by both
    config = dataclasses.replace(SignalConfig(), rpeak_guard_amplitude=0.35, rpeak_searchback=0.0,
                                 rpeak_rescue_wide_aligned=0.9)
    kept = G.guard_rpeaks(peaks, x, x, FS, config)
    tested = G.guard_rpeaks(peaks, x, x, FS, dataclasses.replace(config, rpeak_rescue_wide_aligned_contrast=1.5))
    near = lambda kept, at: np.abs(kept - at).min() <= int(0.01 * FS)  # noqa: E731
    assert near(kept, centre) and not near(tested, centre) and near(tested, small - int(round(LOBE_S * FS)))
    assert np.array_equal(tested, kept[np.abs(kept - centre) > int(0.01 * FS)])


def test_contrast_is_run_s60s_measure():
    # one place for the surroundings: rpeaks.drop_low_contrast reads the same offsets and measure
    from ecgsl_keras.data import rpeaks
    assert rpeaks.CONTRAST_OFFSETS_S is G.CONTRAST_OFFSETS_S
    x, peaks, _, _, _ = _pause_signal()
    ref = G.qrs_amplitudes(x, peaks, FS)
    kept = rpeaks.drop_low_contrast(peaks, x, FS, 0.35, 1.5)
    low = ref < 0.35 * G.amplitude_reference(peaks, ref, peaks)
    dropped = low & (ref < 1.5 * G.surroundings_amplitude(x, FS, peaks))
    assert np.array_equal(kept, peaks[~dropped]) and dropped.any()


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
    assert SignalConfig().rpeak_rescue_wide_aligned_contrast == 0.0
    for bad in ({"rpeak_rescue_wide_aligned_contrast": -1.0, "rpeak_rescue_wide_aligned": 0.9},
                {"rpeak_rescue_wide_aligned_contrast": 1.5}):
        with pytest.raises(ConfigError, match="rpeak_rescue_wide_aligned_contrast"):
            SignalConfig(**bad).validate()
    SignalConfig(rpeak_rescue_wide_aligned=0.9, rpeak_rescue_wide_aligned_contrast=1.5).validate()

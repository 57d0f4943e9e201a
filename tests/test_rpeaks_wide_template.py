"""Run s61 (issue 21): ``SignalConfig.rpeak_rescue_wide_template`` / ``rpeak_guard.wide_template_like``: a small wide
peak the amplitude check drops is kept when it is one of the record's WIDE morphologies and comes early (a PVC's
coupling, then its pause); off by default, validated, refused by the graph."""
import dataclasses

import numpy as np
import pytest

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G
from ecgsl_keras.errors import ConfigError

FS = 360.0


def _signal():
    """40 s at 75/min: narrow beats of 1 (a small S after R), six premature wide PVCs of the same size (biphasic, 0.25 s
    early), one PVC of that shape scaled to 0.4 and 0.25 s early (``small``), and the same small wide shape 0.25 s
    AFTER a beat, late in its gap before the next one (``late``)."""
    t = np.arange(int(40 * FS))
    gauss = lambda c, a, w: a * np.exp(-0.5 * ((t - c) / (w * FS)) ** 2)  # noqa: E731
    pvc = lambda c, g: g * (gauss(c, 1.0, 0.035) - gauss(c + 0.09 * FS, 0.5, 0.04))  # noqa: E731
    beats = list(np.arange(int(0.5 * FS), t.size - int(0.5 * FS), int(0.8 * FS)))
    early = int(0.25 * FS)
    pvcs = [beats[i] - early for i in (6, 12, 18, 24, 30, 36)]
    small, late = beats[42] - early, beats[45] + early
    narrow = [b for i, b in enumerate(beats) if i not in (6, 12, 18, 24, 30, 36, 42, 45)]
    x = sum(gauss(b, 1.0, 0.010) - gauss(b + 0.03 * FS, 0.2, 0.01) for b in narrow)
    x = x + sum(pvc(c, 1.0) for c in pvcs) + pvc(small, 0.4) + pvc(late, 0.4)
    x = x + 0.005 * np.random.default_rng(0).standard_normal(t.size)
    return x, np.array(sorted(narrow + pvcs + [small, late] + [beats[45]])), small, late


def test_a_small_premature_wide_beat_shaped_like_the_records_pvcs_is_kept_and_a_late_one_is_not():
    x, peaks, small, late = _signal()
    peaks = np.unique(peaks)
    amplitude, sharpness, width = G.qrs_shapes(x, peaks, FS)
    reference = G.amplitude_reference(peaks, amplitude, peaks)
    ratio = amplitude / reference
    # both are under the amplitude check's 0.35 and over the floor (rescue_amplitude 0.25), and wide
    for at in (small, late):
        assert G.GUARD.rescue_amplitude <= ratio[peaks == at][0] < 0.35
        assert width[peaks == at][0] > G.GUARD.rescue_width * np.median(width)
    windows = G.qrs_windows(x, peaks, FS, G.GUARD.cluster_window_s)
    off = G.guard_keep(peaks, amplitude, sharpness, width, 0.35, windows=windows)
    assert not off[peaks == small][0] and not off[peaks == late][0]
    for c in (0.9, 0.95):
        on = G.guard_keep(peaks, amplitude, sharpness, width, 0.35, windows=windows, wide_templates=c)
        assert on[peaks == small][0] and not on[peaks == late][0]
        # it only adds: every peak kept without it is kept with it
        assert np.all(on[off]) and on.sum() == off.sum() + 1
    # through guard_rpeaks: the option's windows are computed even without the cluster rescue
    config = dataclasses.replace(SignalConfig(), rpeak_guard_amplitude=0.35, rpeak_searchback=0.0)
    kept_off = G.guard_rpeaks(peaks, x, x, FS, config)
    kept_on = G.guard_rpeaks(peaks, x, x, FS, dataclasses.replace(config, rpeak_rescue_wide_template=0.9))
    assert small not in kept_off and small in kept_on and late not in kept_on


def test_wide_template_option_is_off_by_default_validated_and_python_only():
    assert SignalConfig().rpeak_rescue_wide_template == 0.0
    for bad in (-0.1, 1.5):
        with pytest.raises(ConfigError, match="rpeak_rescue_wide_template"):
            SignalConfig(rpeak_rescue_wide_template=bad).validate()
    from ecgsl_keras.serving import edge
    assert "rpeak_rescue_wide_template" in edge.PYTHON_ONLY_RPEAK_OPTIONS
    # the end-to-end graph does not run it: check_config refuses a config that turns it on
    with pytest.raises(ConfigError, match="rpeak_rescue_wide_template"):
        edge.check_config(SignalConfig(rpeak_rescue_wide_template=0.9), edge.EdgeConfig())

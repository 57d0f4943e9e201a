"""Run s41-t201 (issue 21): the QRS-unlike T-wave veto (``GuardConstants.t_wave_unlike_*``,
``rpeak_guard.unlike_kept_beat``). A wave the T-wave check reaches that is smaller and blunter than the kept beat before
it is vetoed at a lower correlation with the T-wave template; a premature QRS on the T wave, small but sharp, is not.
On a built 100 Hz signal (Gaussian QRS complexes and T waves) and on the MIT-BIH fixture records."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ecgsl_keras.bench.rpeaks import read_mitdb
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard, rpeaks
from ecgsl_keras.data.filters import resample
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.serving import edge

MITDB_FIXTURE = Path(__file__).parent / "fixtures" / "mitdb"
STEP_S = 1.0 / 360.0
FS = 100.0
T_WAVE = 0.9                      # run s58's rpeak_guard_t_wave
# the guard's constants at run s40-slope2's kept point (fixed-step sharpness), the veto off and on
OFF = dataclasses.replace(rpeak_guard.GUARD, sharpness_step_s=STEP_S)
ON = dataclasses.replace(OFF, t_wave_unlike_correlation=0.6, t_wave_unlike_amplitude=0.8, t_wave_unlike_sharpness=0.8)


def _built():
    """40 beats 0.8 s apart at 100 Hz: a narrow QRS (1 mV) and a wide T wave 0.28 s after it; beat 20's T wave has two
    humps (a T wave unlike the others: under 0.9 like their median, still small and blunt), and beat 30 is followed
    0.36 s after it, on its T wave, by a premature narrow QRS of 0.6 mV (a true beat). Returns (signal, the QRS
    peaks, beat 20's T-wave peak, the premature beat's peak)."""
    t = np.arange(int(40 * 0.8 * FS + FS)) / FS
    x = np.zeros_like(t)

    def bump(centre, sd, height):
        return height * np.exp(-0.5 * ((t - centre) / sd) ** 2)

    centres = 0.5 + 0.8 * np.arange(40)
    for k, c in enumerate(centres):
        x += bump(c, 0.012, 1.0) - bump(c + 0.03, 0.015, 0.25)
        x += bump(c + 0.245, 0.04, 0.32) + bump(c + 0.345, 0.045, 0.3) if k == 20 else bump(c + 0.28, 0.05, 0.45)
        if k == 30:
            x += bump(c + 0.36, 0.012, 0.6)
    x += 0.01 * np.random.default_rng(0).standard_normal(x.size)
    qrs = np.rint(centres * FS).astype(np.int64)
    t_peak = int(qrs[20] + 15 + np.argmax(x[qrs[20] + 15:qrs[20] + 45]))
    premature = int(qrs[30] + 30 + np.argmax(x[qrs[30] + 30:qrs[30] + 42]))
    return x, qrs, t_peak, premature


def test_the_veto_drops_a_small_blunt_t_wave_and_keeps_a_sharp_premature_beat():
    x, qrs, t_peak, premature = _built()
    kept = np.sort(np.concatenate([qrs, [t_peak, premature]]))
    at = np.array([t_peak, premature])
    # the T wave is under 0.9 like its template: the check alone keeps it (a false beat, as 201's at 100 Hz)
    np.testing.assert_array_equal(rpeak_guard.t_wave_like(kept, at, x, FS, T_WAVE, OFF), [False, False])
    # smaller and blunter than its beat: the veto needs only 0.6 and drops it; the premature QRS is sharp and stays
    np.testing.assert_array_equal(rpeak_guard.t_wave_like(kept, at, x, FS, T_WAVE, ON), [True, False])
    # a plain lower correlation would drop the true beat too: the shape is what spares it
    np.testing.assert_array_equal(rpeak_guard.t_wave_like(kept, at, x, FS, 0.6, OFF), [True, True])
    before = kept[np.searchsorted(kept, at) - 1]
    np.testing.assert_array_equal(before, [qrs[20], qrs[30]])
    np.testing.assert_array_equal(rpeak_guard.unlike_kept_beat(x, at, before, FS, ON), [True, False])
    # a QRS is not unlike the QRS before it
    assert not rpeak_guard.unlike_kept_beat(x, qrs[1:], qrs[:-1], FS, ON).any()


def test_the_veto_is_off_by_default_and_at_or_above_the_checks_correlation():
    x, qrs, t_peak, premature = _built()
    kept = np.sort(np.concatenate([qrs, [t_peak, premature]]))
    assert rpeak_guard.GUARD.t_wave_unlike_correlation == 0.0
    for floor in (0.0, T_WAVE, 0.95):        # off, or no lower than the check's own correlation: the check unchanged
        constants = dataclasses.replace(ON, t_wave_unlike_correlation=floor)
        np.testing.assert_array_equal(rpeak_guard.t_wave_like(kept, kept, x, FS, T_WAVE, constants),
                                      rpeak_guard.t_wave_like(kept, kept, x, FS, T_WAVE, OFF))


@pytest.mark.parametrize("rid", ["119", "208"])
def test_find_rpeaks_with_the_veto_at_100_hz_on_fixture_records(rid):
    signal, fs, reference = read_mitdb(str(MITDB_FIXTURE), rid)[:3]
    reference = np.asarray(reference, np.int64)
    base = SignalConfig(rpeak_mindelay_keep="prominent_negative_last", rpeak_region_gradient_step_s=STEP_S,
                        rpeak_searchback=1.5, rpeak_second_proposer=0.5, rpeak_guard_t_wave=T_WAVE,
                        rpeak_guard_slope_step_s=STEP_S, rpeak_guard_constants={"sharpness_step_s": STEP_S})
    on = dataclasses.replace(base, rpeak_guard_constants={"sharpness_step_s": STEP_S, "t_wave_unlike_correlation": 0.6})
    low = resample(signal, fs, FS)
    tolerance = int(round(0.15 * fs))
    counts = {}
    for name, config in (("base", base), ("on", on)):
        peaks = np.rint(rpeaks.find_rpeaks(low, FS, config) * fs / FS).astype(np.int64)
        counts[name] = rpeaks.match_peaks(reference, peaks, tolerance)
        assert counts[name]["tp"] >= 0.99 * len(reference)
    # the veto only takes peaks away: no more false beats, and here no true beat lost
    assert counts["on"]["fp"] <= counts["base"]["fp"]
    assert counts["on"]["tp"] == counts["base"]["tp"]


@pytest.mark.parametrize("name,value", [("t_wave_unlike_correlation", 1.5), ("t_wave_unlike_correlation", -0.1),
                                        ("t_wave_unlike_amplitude", -1.0), ("t_wave_unlike_sharpness", float("nan"))])
def test_bad_veto_constants_are_refused(name, value):
    with pytest.raises(ConfigError, match=name):
        SignalConfig(rpeak_guard_constants={name: value}).validate()


def test_the_graph_refuses_the_veto():
    for name in ("t_wave_unlike_correlation", "t_wave_unlike_amplitude", "t_wave_unlike_sharpness"):
        assert name not in edge.GRAPH_GUARD_CONSTANTS
        with pytest.raises(ConfigError):
            edge.check_config(SignalConfig(rpeak_guard_constants={name: 0.6}), edge.EdgeConfig())

"""Run s41-block100 (issue 21): the search back's candidates through the P-wave check
(``GuardConstants.searchback_p_wave``, set through ``SignalConfig.rpeak_guard_constants``; Python path only). In a
long RR gap the search back takes the strongest slope; where a record's P waves are large (MIT-BIH 108) that can be a
P wave, which the P-wave check, run before the search back, never sees."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ecgsl_keras.bench.rpeaks import read_mitdb
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard, rpeaks
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.serving import edge

FS = 360.0
MITDB_FIXTURE = Path(__file__).parent / "fixtures" / "mitdb"
ON = {"searchback_p_wave": 1.0}


def _wave(x, at, amplitude, sigma):
    t = np.arange(-int(4 * sigma), int(4 * sigma) + 1)
    x[at + t] += amplitude * np.exp(-0.5 * (t / sigma) ** 2)


def _sinus_with_a_blocked_beat():
    """A sinus train (RR 0.8 s) with large P waves (about half the QRS peak-to-peak, 0.16 s before it) and T waves; one beat blocked (its
    P wave left alone in a gap of two RR) and one small conducted beat (0.6 x, with its own P wave) that the proposer
    missed. Returns (signal, the proposer's peaks, the blocked beat's P wave, the missed beat)."""
    x = np.zeros(int(40 * FS))
    beats = [int(round(t * FS)) for t in np.arange(1.0, 38.0, 0.8)]
    blocked, missed = beats[20], beats[35]
    for r in beats:
        _wave(x, r - int(0.16 * FS), 1.0, 12.0)                         # the P wave
        if r == blocked:
            continue
        size = 0.6 if r == missed else 1.0
        _wave(x, r, size, 4.0)                                           # a narrow QRS
        _wave(x, r + int(0.03 * FS), -0.3 * size, 4.0)
        _wave(x, r + int(0.3 * FS), 0.3, 25.0)                           # the T wave
    proposed = np.array([r for r in beats if r not in (blocked, missed)], np.int64)
    return x, proposed, blocked - int(0.16 * FS), missed


def _near(peaks, at, tolerance=int(0.05 * FS)):
    return bool(np.min(np.abs(np.asarray(peaks) - at)) <= tolerance)


def test_the_search_back_adds_a_large_p_wave_unless_its_candidates_pass_the_p_wave_check():
    x, proposed, p_wave, missed = _sinus_with_a_blocked_beat()
    off = SignalConfig()
    assert off.rpeak_searchback > 0 and off.rpeak_guard_p_wave == 0      # the P-wave check of step 1 is off
    found = rpeak_guard.guard_rpeaks(proposed, x, x, FS, off)
    assert _near(found, p_wave)                                          # the P wave comes in as a beat
    assert _near(found, missed)
    on = dataclasses.replace(off, rpeak_guard_constants=ON)
    assert rpeak_guard.constants_for(on).searchback_p_wave == 1.0
    found_on = rpeak_guard.guard_rpeaks(proposed, x, x, FS, on)
    assert not _near(found_on, p_wave)                                   # shaped like the P waves, none of its own
    assert _near(found_on, missed)                                       # a QRS with its P wave is still added
    assert np.isin(proposed, found_on).all()                             # the proposer's beats are not touched


@pytest.mark.parametrize("rid", ["119", "208"])
def test_on_the_fixture_records_the_check_loses_no_beat(rid):
    signal, fs, reference = read_mitdb(str(MITDB_FIXTURE), rid)[:3]
    config = SignalConfig(rpeak_mindelay_keep="prominent_negative_last", rpeak_searchback=1.5)
    tolerance = int(round(0.15 * fs))
    off = rpeaks.match_peaks(reference, rpeaks.find_rpeaks(signal, fs, config), tolerance)
    on = rpeaks.match_peaks(reference, rpeaks.find_rpeaks(
        signal, fs, dataclasses.replace(config, rpeak_guard_constants=ON)), tolerance)
    assert on["tp"] == off["tp"] and on["fp"] <= off["fp"]


@pytest.mark.parametrize("value", [-0.5, 11.0, float("nan")])
def test_bad_distances_are_refused(value):
    with pytest.raises(ConfigError, match="searchback_p_wave"):
        SignalConfig(rpeak_guard_constants={"searchback_p_wave": value}).validate()


def test_the_graph_refuses_the_override():
    assert "searchback_p_wave" not in edge.GRAPH_GUARD_CONSTANTS
    with pytest.raises(ConfigError, match="searchback_p_wave"):
        edge.check_config(SignalConfig(rpeak_guard_constants=ON), edge.EdgeConfig())

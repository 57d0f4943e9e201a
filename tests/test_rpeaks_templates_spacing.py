"""Run s67 (issue 21): the second proposer's template spacing (``GuardConstants.templates_spacing``, set through
``SignalConfig.rpeak_guard_constants``; 0 = off, the default). A short-coupled beat of a multiform record lies closer
than ``second_spacing`` x the local RR to a kept beat and has too few beats of its shape around it for the cluster
rescue; with the option it is added when it matches one of the record's templates (``record_templates``)."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ecgsl_keras.bench.rpeaks import read_mitdb
from ecgsl_keras.config import GuardConstants, SignalConfig
from ecgsl_keras.data import rpeak_guard, rpeak_points, rpeaks
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.serving import edge

FS = 360.0
MITDB_FIXTURE = Path(__file__).parent / "fixtures" / "mitdb"


def _wave(x, at, amplitude, sigma):
    t = np.arange(-int(4 * sigma), int(4 * sigma) + 1)
    x[at + t] += amplitude * np.exp(-0.5 * (t / sigma) ** 2)


def _with_spacing(config, spacing):
    return dataclasses.replace(config, rpeak_guard_constants=dict(dict(config.rpeak_guard_constants),
                                                                 templates_spacing=spacing))


def _sinus_with_early_beats():
    """A sinus train (RR 0.8 s, small P waves) with an early beat of a second shape (R, then a deep S) 0.33-0.42 s
    after every tenth beat (interpolated: the next sinus beat on time), one early beat missed by the proposer. Returns
    (signal, the proposer's peaks, the missed beat)."""
    x = np.zeros(int(120 * FS))
    normal = [int(round(t * FS)) for t in np.arange(1.0, 118.0, 0.8)]
    rng = np.random.default_rng(0)
    early = [r + int(rng.uniform(0.33, 0.42) * FS) for r in normal[5::10][:-1]]
    for r in normal:
        _wave(x, r - int(0.16 * FS), 0.15, 12.0)
        _wave(x, r, 1.0, 4.0)
        _wave(x, r + int(0.03 * FS), -0.3, 4.0)
    for r in early:
        _wave(x, r - int(0.02 * FS), -0.3, 3.0)
        _wave(x, r, 0.9, 3.0)
        _wave(x, r + int(0.025 * FS), -0.9, 5.0)
    missed = early[6]
    proposed = np.array(sorted((set(normal) | set(early)) - {missed}), np.int64)
    return x, proposed, missed


def test_the_option_is_off_by_default():
    assert GuardConstants().templates_spacing == 0.0
    assert rpeak_guard.constants_for(rpeak_points.point_config("mitdb-d1")).templates_spacing == 0.0


def test_a_short_coupled_beat_like_a_record_template_is_added_only_with_the_option():
    x, proposed, missed = _sinus_with_early_beats()
    config = rpeak_points.point_config("mitdb-d1")      # the second proposer, the cluster rescue and the templates on
    off = rpeak_guard.guard_rpeaks(proposed, x, x, FS, config)
    assert np.min(np.abs(off - missed)) > int(0.15 * FS)     # refused on spacing: too few of its shape around it
    for spacing in (0.4, 0.25):
        on = rpeak_guard.guard_rpeaks(proposed, x, x, FS, _with_spacing(config, spacing))
        assert np.min(np.abs(on - missed)) <= int(0.02 * FS)
        assert np.setdiff1d(on, off).size == 1 and np.isin(off, on).all()
    # without the record templates (rpeak_rescue_templates 0) the option has nothing to match: off
    no_templates = dataclasses.replace(_with_spacing(config, 0.4), rpeak_rescue_templates=0.0)
    assert np.array_equal(rpeak_guard.guard_rpeaks(proposed, x, x, FS, no_templates),
                          rpeak_guard.guard_rpeaks(proposed, x, x, FS, dataclasses.replace(config,
                                                                                           rpeak_rescue_templates=0.0)))


# find_rpeaks' peaks on the fixture records before the option existed (count, sum of the positions): run s67 leaves
# the default detector and the shipped mitdb-d1 point as they were
BEFORE = {("119", "default"): (326, 17584566), ("119", "mitdb-d1"): (326, 17584566),
          ("208", "default"): (515, 27853561), ("208", "mitdb-d1"): (516, 27853607)}


@pytest.mark.parametrize("rid,point", sorted(BEFORE))
def test_off_by_default_find_rpeaks_is_unchanged_on_the_fixture_records(rid, point):
    signal, fs = read_mitdb(str(MITDB_FIXTURE), rid)[:2]
    peaks = rpeaks.find_rpeaks(signal, fs, rpeak_points.point_config(point))
    assert (int(peaks.size), int(peaks.sum())) == BEFORE[(rid, point)]


@pytest.mark.parametrize("value", [-0.1, 0.6, float("nan")])
def test_bad_spacings_are_refused(value):
    with pytest.raises(ConfigError, match="templates_spacing"):
        SignalConfig(rpeak_guard_constants={"templates_spacing": value}).validate()


def test_the_graph_refuses_the_option():
    """Python path only: the end-to-end graph reads its own GuardConstants list (``edge.GRAPH_GUARD_CONSTANTS``)."""
    assert "templates_spacing" not in edge.GRAPH_GUARD_CONSTANTS
    with pytest.raises(ConfigError, match="templates_spacing"):
        edge.check_config(SignalConfig(rpeak_guard_constants={"templates_spacing": 0.4}), edge.EdgeConfig())

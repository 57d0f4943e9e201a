"""SignalConfig.rpeak_guard_constants (issue 21): the guard's fixed constants as part of the detector's configuration
(round trip, validation, the same peaks as rebinding rpeak_guard.GUARD, what the end-to-end graph honours / refuses)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from ecgsl_keras.bench import rhythms
from ecgsl_keras.bench.rpeaks import read_mitdb
from ecgsl_keras.config import ExperimentConfig, SignalConfig, signal_mismatch
from ecgsl_keras.data import rpeak_guard
from ecgsl_keras.data import signal as signal_lib
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.serving import edge
from helpers import graph_guard_keeps, unguarded_window

OVERRIDES = {"cluster_floor": 0.15, "t_wave_all": True, "templates_min": 8, "t_wave_lag_s": [0.1, 0.4]}


def test_guard_constants_round_trip_through_json(tmp_path):
    config = SignalConfig(rpeak_guard_constants=OVERRIDES)
    # held as sorted pairs (hashable), written as a JSON object
    assert config.rpeak_guard_constants == (("cluster_floor", 0.15), ("t_wave_all", True), ("t_wave_lag_s", (0.1, 0.4)),
                                            ("templates_min", 8))
    assert hash(config) != hash(SignalConfig())
    assert json.loads(config.to_json())["rpeak_guard_constants"] == {"cluster_floor": 0.15, "t_wave_all": True,
                                                                     "t_wave_lag_s": [0.1, 0.4], "templates_min": 8}
    assert SignalConfig.from_dict(json.loads(config.to_json())) == config
    config.save(tmp_path / "signal_config.json")
    assert SignalConfig.load(tmp_path / "signal_config.json") == config
    nested = ExperimentConfig(signal=config)
    assert json.loads(nested.to_json())["signal"]["rpeak_guard_constants"]["cluster_floor"] == 0.15
    assert ExperimentConfig.from_dict(json.loads(nested.to_json())) == nested
    assert dataclasses.replace(SignalConfig(), rpeak_guard_constants=OVERRIDES) == config
    assert signal_mismatch(config, SignalConfig()) == [
        "rpeak_guard_constants: {'cluster_floor': 0.15, 't_wave_all': True, 't_wave_lag_s': (0.1, 0.4), "
        "'templates_min': 8} != {}"]
    # the default writes an empty object, and a file from before the field loads as the default
    values = SignalConfig().to_dict()
    assert values.pop("rpeak_guard_constants") == {}
    assert SignalConfig.from_dict(values) == SignalConfig()
    # the one accessor: GUARD itself by default, GUARD with the overrides otherwise
    assert rpeak_guard.constants_for(SignalConfig()) is rpeak_guard.GUARD
    assert rpeak_guard.constants_for(config) == dataclasses.replace(
        rpeak_guard.GUARD, cluster_floor=0.15, t_wave_all=True, templates_min=8, t_wave_lag_s=(0.1, 0.4))


@pytest.mark.parametrize("values, message", [
    ({"clusterfloor": 0.15}, "unknown GuardConstants field 'clusterfloor'"),
    ({"templates_min": 8.5}, "GuardConstants.templates_min must be of type int"),
    ({"t_wave_all": 1}, "GuardConstants.t_wave_all must be of type bool"),
    ({"cluster_floor": "0.15"}, "GuardConstants.cluster_floor must be of type float"),
    ({"cluster_floor": True}, "GuardConstants.cluster_floor must be of type float"),
    ({"t_wave_lag_s": [0.1]}, "GuardConstants.t_wave_lag_s must be of type tuple"),
    (3, "rpeak_guard_constants must map GuardConstants field names to values"),
])
def test_bad_guard_constants_name_the_field(values, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        SignalConfig(rpeak_guard_constants=values)
    path = tmp_path / "signal_config.json"
    path.write_text(json.dumps({"rpeak_guard_constants": values}))
    with pytest.raises(ConfigError, match=message) as error:
        SignalConfig.load(path)
    assert str(path) in str(error.value)


@pytest.fixture(scope="module")
def bigeminy(fixtures_dir):
    """Two minutes of bigeminy built from MIT-BIH 119 (every other beat scaled down)."""
    signal, fs, beats, episodes, _, symbols = read_mitdb(fixtures_dir / "mitdb", "119", with_symbols=True)
    built = rhythms.build("bigeminy", signal, fs, beats, symbols, episodes, seed=119)
    return built["signal"][: int(120 * fs)], fs


def test_a_guard_constant_in_the_config_changes_peaks_as_rebinding_guard_does(bigeminy, monkeypatch):
    """The shape rescue off (rescue_amplitude 1.0) through the config drops bigeminy's small beats, and finds exactly
    the peaks of the same constant patched into rpeak_guard.GUARD (the older experiments' way)."""
    x, fs = bigeminy
    default = signal_lib.find_rpeaks(x, fs, SignalConfig())
    through_config = signal_lib.find_rpeaks(x, fs, SignalConfig(rpeak_guard_constants={"rescue_amplitude": 1.0}))
    assert default.size - through_config.size > 20
    monkeypatch.setattr(rpeak_guard, "GUARD", dataclasses.replace(rpeak_guard.GUARD, rescue_amplitude=1.0))
    np.testing.assert_array_equal(signal_lib.find_rpeaks(x, fs, SignalConfig()), through_config)


def test_the_graph_refuses_guard_constants_it_does_not_read():
    for name, value in (("cluster_floor", 0.15), ("t_wave_all", True)):
        with pytest.raises(ConfigError, match=f"rpeak_guard_constants overrides {name} \\(Python path only\\)"):
            edge.check_config(SignalConfig(rpeak_guard_constants={name: value}))
    with pytest.raises(ConfigError, match="EdgeConfig.searchback_rounds"):
        edge.check_config(SignalConfig(rpeak_guard_constants={"searchback_rounds": 2}))
    for name in edge.GRAPH_GUARD_CONSTANTS:      # the ones the graph reads are accepted
        value = getattr(rpeak_guard.GUARD, name)
        edge.check_config(SignalConfig(rpeak_guard_constants={name: value}))


def test_the_graph_honours_the_guard_constants_it_reads(bigeminy):
    """EndToEnd.guard with rescue_amplitude 1.0 in the signal config keeps what signal.guard_keep keeps with those
    constants (30 s at target_fs, the unguarded detector's peaks), and that differs from the default's."""
    config = SignalConfig(rpeak_guard_constants={"rescue_amplitude": 1.0})
    x, fs = bigeminy
    cleaned, peaks, (amplitude, sharpness, width) = unguarded_window(x[: int(30 * fs)], fs, config)
    expected = peaks[signal_lib.guard_keep(peaks, amplitude, sharpness, width, config.rpeak_guard_amplitude,
                                           rpeak_guard.constants_for(config))]
    default = peaks[signal_lib.guard_keep(peaks, amplitude, sharpness, width, config.rpeak_guard_amplitude)]
    assert default.size - expected.size > 5
    for sc, want in ((config, expected), (SignalConfig(), default)):
        np.testing.assert_array_equal(graph_guard_keeps(sc, cleaned, peaks), want)

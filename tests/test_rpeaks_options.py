"""find_rpeaks' detector options: which SignalConfig fields hand the detector the guard's signal (``gap_signal``) --
one tuple, ``rpeaks.GAP_SIGNAL_OPTIONS``, and every gap option of the config classified against it, so a new shape
test of the gap cannot be left out of the condition."""
import dataclasses

import numpy as np
import pytest

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeaks

# the gap options whose rules measure no QRS shape inside the detector (the gap itself, its pair rule and their
# bookkeeping, and the tests find_rpeaks runs after the detector); a new rpeak_minimum_gap_* field goes here or into
# rpeaks.GAP_SIGNAL_OPTIONS
NO_GAP_SIGNAL = {"rpeak_minimum_gap_s", "rpeak_minimum_gap_final", "rpeak_minimum_gap_after_guard",
                 "rpeak_minimum_gap_new_only", "rpeak_minimum_gap_pair", "rpeak_minimum_gap_pair_guarded"}
GAP = dict(rpeak_mindelay_keep="prominent_negative_last", rpeak_minimum_gap_s=0.25)
# what each option needs set beside it (SignalConfig.validate)
NEEDS = {"rpeak_minimum_gap_pair_slope": dict(rpeak_minimum_gap_pair=0.6),
         "rpeak_minimum_gap_pair_correlation": dict(rpeak_minimum_gap_pair=0.6),
         "rpeak_minimum_gap_pair_templates": dict(rpeak_minimum_gap_pair=0.6, rpeak_minimum_gap_pair_correlation=0.9),
         "rpeak_minimum_gap_pair_guarded": dict(rpeak_minimum_gap_pair=0.6),
         "rpeak_minimum_gap_after_guard": dict(rpeak_minimum_gap_final=0.5),
         "rpeak_minimum_gap_new_only": dict(rpeak_minimum_gap_final=0.5)}


def _keywords(monkeypatch, config):
    """The keywords find_rpeaks hands detect_rpeaks for ``config`` (a 20 s synthetic beat train at 360 Hz)."""
    seen = {}

    class Seen(Exception):
        pass

    def fake(signal, fs, method, **options):
        seen.update(options)
        raise Seen

    monkeypatch.setattr(rpeaks, "detect_rpeaks", fake)
    fs = 360.0
    t = np.arange(int(20 * fs)) / fs
    with pytest.raises(Seen):
        rpeaks.find_rpeaks(np.sin(t * 2 * np.pi * 1.2) ** 21, fs, config)
    return seen


def _config_with(field):
    base = SignalConfig()
    value = True if isinstance(getattr(base, field), bool) else 0.7
    return SignalConfig(**{**GAP, **NEEDS.get(field, {}), field: value})


def test_every_gap_option_is_classified_for_the_guards_signal():
    fields = {f.name for f in dataclasses.fields(SignalConfig) if f.name.startswith("rpeak_minimum_gap")}
    unclassified = fields - NO_GAP_SIGNAL - set(rpeaks.GAP_SIGNAL_OPTIONS)
    assert not unclassified, (f"{sorted(unclassified)}: does its detector rule measure QRS shapes? add it to "
                              "rpeaks.GAP_SIGNAL_OPTIONS (find_rpeaks then passes gap_signal) or to NO_GAP_SIGNAL here")
    assert not NO_GAP_SIGNAL & set(rpeaks.GAP_SIGNAL_OPTIONS)
    assert set(rpeaks.GAP_SIGNAL_OPTIONS) <= fields


@pytest.mark.parametrize("field", sorted(NO_GAP_SIGNAL | set(rpeaks.GAP_SIGNAL_OPTIONS)))
def test_gap_signal_goes_to_the_detector_exactly_with_the_shape_options(monkeypatch, field):
    # each option with what it needs beside it (only the templates need another shape option: the correlation)
    options = _keywords(monkeypatch, _config_with(field))
    expected = field in rpeaks.GAP_SIGNAL_OPTIONS
    assert ("gap_signal" in options) == expected and ("guard_constants" in options) == expected
    if expected:
        assert np.asarray(options["gap_signal"]).ndim == 1


def test_default_config_hands_the_detector_no_gap_signal(monkeypatch):
    options = _keywords(monkeypatch, SignalConfig())
    assert "gap_signal" not in options and "guard_constants" not in options


@pytest.mark.parametrize("field, value", [("rpeak_minimum_gap_s", 0.25), ("rpeak_region_gradient_step_s", 1 / 360)])
def test_a_python_built_config_with_a_detector_option_for_another_detector_is_refused_by_name(field, value):
    # a SignalConfig built in Python is not validated on construction; find_rpeaks refuses the option before
    # neurokit2's own detector (rpeak_mindelay_keep 'first') would meet it as an unknown keyword (a raw TypeError)
    from ecgsl_keras.errors import ConfigError

    fs = 360.0
    t = np.arange(int(20 * fs)) / fs
    with pytest.raises(ConfigError, match=f"{field} apply to the 'neurokit' method"):
        rpeaks.find_rpeaks(np.sin(t * 2 * np.pi * 1.2) ** 21, fs, SignalConfig(**{field: value}))

"""SignalConfig.beat_reference="tq" (issue 18, run af40): each beat also carries the stretch before its QRS, from the
previous beat's estimated T end to its QRS onset on the record's own time scale (``signal.tq_stretch``), a second
channel of the beat encoder; on the CinC sample records and a hand-made signal."""
import numpy as np
import pytest

from ecgsl_keras.config import ExperimentConfig, ModelConfig, SignalConfig
from ecgsl_keras.data import signal as signal_lib
from ecgsl_keras.data.datasets import open_dataset
from ecgsl_keras.data.signal import preprocess, tq_stretch, with_reference
from ecgsl_keras.errors import ConfigError
from helpers import CINC_SAMPLE


def test_tq_stretch_is_the_signal_from_the_previous_t_end_to_the_qrs_onset():
    fs, L = 100.0, 96
    x = np.arange(1, 1001, dtype=np.float32)         # sample i holds i + 1: every copied sample says where it came from
    peaks = np.array([100, 180, 300, 340, 900])       # RR 0.8 s, 1.2 s, 0.4 s (fast), 5.6 s (a pause)
    out = tq_stretch(x, peaks, np.arange(5), L, fs)
    assert out.shape == (5, L) and out.dtype == np.float32
    onset = round(signal_lib.TQ_QRS_ONSET_S * fs)
    for j, (prev, here) in enumerate([(20, 100), (100, 180), (180, 300), (300, 340), (340, 900)]):
        stop = here - onset
        t_end = prev + round(signal_lib.TQ_QTC_S * np.sqrt((here - prev) / fs) * fs)
        start = max(min(t_end, stop - round(signal_lib.TQ_MIN_S * fs)), stop - L, 0)
        expected = np.zeros(L, np.float32)
        expected[L - (stop - start):] = x[start:stop]
        np.testing.assert_array_equal(out[j], expected, err_msg=f"beat {j}")
    # beat 0 mirrors its next RR (0.8 s): previous R at 20; beat 3's 0.4 s RR leaves less than TQ_MIN_S of stretch,
    # so it is widened backwards to TQ_MIN_S; beat 4's 5.6 s pause fills the whole channel
    assert out[1, -1] == x[180 - onset - 1] and out[1, 0] == 0
    assert np.count_nonzero(out[3]) == round(signal_lib.TQ_MIN_S * fs)
    assert np.count_nonzero(out[4]) == L
    # kept indexes the peaks: a subset gives the same rows
    np.testing.assert_array_equal(tq_stretch(x, peaks, np.array([1, 3]), L, fs), out[[1, 3]])
    assert tq_stretch(x, peaks, np.zeros(0, np.int64), L, fs).shape == (0, L)
    with pytest.raises(ValueError, match="2 R-peaks"):
        tq_stretch(x, peaks[:1], np.array([0]), L, fs)


def test_tq_beats_are_the_beat_then_the_stretch_before_it():
    reader = open_dataset("cinc2017", CINC_SAMPLE)
    config = SignalConfig(beat_reference="tq")
    assert (config.beat_channels, config.beat_width) == (2, 2 * config.beat_len)
    L = config.beat_len
    filled = []
    for record_id in reader.record_ids()[:4]:
        record = reader.load(record_id)
        plain = preprocess(record.lead(None), record.fs, SignalConfig())
        tq = preprocess(record.lead(None), record.fs, config)
        assert tq.beats.shape == (len(plain.beats), 2 * L) and tq.beats.dtype == np.float32
        np.testing.assert_array_equal(tq.beats[:, :L], plain.beats)           # channel 0: the beat as before
        np.testing.assert_array_equal(tq.rpeaks, plain.rpeaks)
        np.testing.assert_array_equal(tq.rr, plain.rr)
        # channel 1 ends at the QRS onset: its last sample is the signal there
        onset = tq.rpeaks - round(signal_lib.TQ_QRS_ONSET_S * config.target_fs)
        np.testing.assert_array_equal(tq.beats[:, -1], tq.signal[onset - 1])
        filled.append(np.count_nonzero(tq.beats[:, L:], axis=1))
    filled = np.concatenate(filled)
    # at least TQ_MIN_S of stretch; at resting rates not the whole window (the previous QRS and T wave are left out)
    assert np.percentile(filled, 5) >= round(signal_lib.TQ_MIN_S * config.target_fs) - 1 and np.median(filled) < L


def test_tq_reference_needs_the_signal_and_the_config_checks_channels():
    beats = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="'tq' needs"):
        with_reference(beats, "tq")
    with pytest.raises(ValueError, match="2 kept indices for 3 beats"):
        with_reference(beats, "tq", signal=np.zeros(50), rpeaks=np.array([10, 20, 30]), kept=np.array([0, 1]), fs=100.0)
    assert with_reference(np.zeros((0, 4), np.float32), "tq").shape == (0, 8)
    with pytest.raises(ConfigError, match="beat_reference"):
        with_reference(beats, "window")
    config = ExperimentConfig(signal=SignalConfig(beat_reference="tq"))
    with pytest.raises(ConfigError, match="beat_channels"):
        config.validate()
    ExperimentConfig(signal=config.signal, model=ModelConfig(beat_channels=2)).validate()
    assert SignalConfig().beat_reference == "none"          # off by default


def test_init_from_a_one_channel_model_is_allowed_for_tq_beats():
    """hybrid.py's fold models start from the one-channel ``encoder`` preset: the trainer accepts data whose signal
    differs from the init model's only by the tq channel (and extends the first convolution with zeros)."""
    from ecgsl_keras.training.trainer import _reference_added

    plain = SignalConfig().to_dict()
    tq = SignalConfig(beat_reference="tq").to_dict()
    assert _reference_added(plain, tq)
    assert not _reference_added(SignalConfig(beat_reference="median").to_dict(), tq)


def test_tq_median_adds_the_stretch_less_its_level_against_the_record_median():
    from ecgsl_keras.data.signal import tq_against_median

    rng = np.random.default_rng(0)
    L = 16
    p_wave = np.sin(np.linspace(0, np.pi, L)).astype(np.float32)
    levels = rng.normal(0, 2, (6, 1)).astype(np.float32)                # baseline wander: one level per beat
    mask = np.ones((6, L), bool)
    mask[0, :5] = False                                                 # beat 0: a shorter stretch
    steady = np.where(mask, p_wave + levels, 0).astype(np.float32)
    out = tq_against_median(steady, mask)
    assert out.shape == (6, L) and out.dtype == np.float32
    assert not out[0, :5].any()                                         # 0 outside the beat's own stretch
    np.testing.assert_allclose(out[1:], 0, atol=1e-5)                   # a steady P wave and the levels cancel
    waves = rng.normal(0, 1, (6, L)).astype(np.float32)                 # f waves: a new phase every beat
    assert np.abs(tq_against_median(np.where(mask, waves, 0), mask)[mask]).mean() > 0.5
    assert tq_against_median(np.zeros((0, L), np.float32), np.zeros((0, L), bool)).shape == (0, L)
    config = SignalConfig(beat_reference="tq_median")
    assert (config.beat_channels, config.beat_width) == (3, 3 * config.beat_len)
    record = open_dataset("cinc2017", CINC_SAMPLE)
    first = record.load(record.record_ids()[0])
    three = preprocess(first.lead(None), first.fs, config)
    two = preprocess(first.lead(None), first.fs, SignalConfig(beat_reference="tq"))
    np.testing.assert_array_equal(three.beats[:, :2 * config.beat_len], two.beats)
    assert np.abs(three.beats[:, 2 * config.beat_len:]).max() > 0

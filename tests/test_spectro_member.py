"""Issue 18's af52 (experiments/cinc2017/spectro_member.py): the spectrogram member's input on a real CinC 2017
record (the package's sample), the windows a record is read in, and the model's outputs."""
from types import SimpleNamespace

import numpy as np
import pytest

from experiments.cinc2017 import spectro_member as sm

CINC_SAMPLE = "ecgsl_keras/data/cinc2017_sample"


@pytest.fixture(scope="module")
def record_spectrum():
    from pathlib import Path

    from ecgsl_keras.data import readers

    root = Path(__file__).resolve().parents[1] / CINC_SAMPLE
    signal, fs, _ = readers.read_lead(root / "A00205")
    return signal, fs, sm.spectrum(signal, fs)


def test_spectrum_frames_bins_and_scale(record_spectrum):
    signal, fs, spec = record_spectrum
    hop, n = sm.SPECTRUM["hop"], sm.SPECTRUM["nperseg"]
    assert spec.shape[0] == 1 + -(-(signal.size - n) // hop)      # one frame per hop, the last one zero-padded
    assert spec.shape[1] == int(sm.MAX_HZ / (fs / n)) + 1             # 0 .. 40 Hz in fs / nperseg steps
    assert spec.dtype == np.float32 and (spec >= 0).all()             # log1p of a magnitude
    again = sm.spectrum(3.0 * signal + 0.7, fs)                       # the robust scaling takes gain and offset out
    np.testing.assert_allclose(again, spec, rtol=1e-4, atol=1e-5)


def test_windows_cover_the_record_and_end_at_its_end():
    assert sm.windows(100) == [0] and sm.windows(sm.CROP) == [0]
    starts = sm.windows(600)
    assert starts[0] == 0 and starts[-1] == 600 - sm.CROP and all(b - a <= sm.CROP for a, b in zip(starts, starts[1:]))
    spec = np.arange(50 * 3, dtype=np.float32).reshape(50, 3)
    w = sm.window(spec, 0)
    assert w.shape == (sm.CROP, 3) and np.array_equal(w[:50], spec) and not w[50:].any()   # zero frames after


def test_model_gives_class_probabilities(record_spectrum):
    _, _, spec = record_spectrum
    model = sm.build_model(spec.shape[1])
    x = np.stack([sm.window(spec, s) for s in sm.windows(len(spec))])
    p = model(x, training=False).numpy()
    assert p.shape == (len(x), len(sm.LABELS))
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("lever_name,missing", [("af52", r"spectro_oof\.npz"), ("af53", r"spectro_oof_s43\.npz")])
def test_cv_without_the_member_tables_names_the_missing_one(tmp_path, lever_name, missing):
    lever = sm.SpectroMember.__new__(sm.SpectroMember)
    lever.work, lever.args, lever.seeds = tmp_path, SimpleNamespace(lever=lever_name), sm.LEVERS[lever_name]["seeds"]
    lever.ids = np.array(["A00001"])
    if lever_name == "af53":                 # seed 42's table there, seed 43's not
        np.savez(tmp_path / "spectro_oof.npz", spectro=np.full((1, 4), 0.25, np.float32))
    with pytest.raises(SystemExit, match=missing + ": no such file"):
        lever.step_cv()


def test_the_member_is_the_mean_of_the_levers_seeds(tmp_path):
    lever = sm.SpectroMember.__new__(sm.SpectroMember)
    lever.work, lever.seeds, lever.ids = tmp_path, sm.LEVERS["af53"]["seeds"], np.array(["A00001", "A00002"])
    tables = {seed: np.random.default_rng(seed).dirichlet(np.ones(4), 2).astype(np.float32) for seed in lever.seeds}
    for seed, p in tables.items():
        np.savez(lever._oof_path(seed), spectro=p)
    member = lever._member()
    np.testing.assert_allclose(member["A00002"], np.mean([p[1] for p in tables.values()], axis=0), rtol=1e-6)
    assert lever._weights(0, 42).name == "fold_0.weights.h5" and lever._weights(0, 43).name == "fold_0_s43.weights.h5"


def test_af54_reads_the_residual_beside_the_signal_and_zeros_where_undefined(tmp_path, record_spectrum):
    from experiments.cinc2017.atrial_spectrum import cancel

    signal, fs, spec = record_spectrum
    lever = sm.SpectroMember.__new__(sm.SpectroMember)
    lever.work, lever.inputs = tmp_path, sm.LEVERS["af54"]["inputs"]
    (tmp_path / "spectra").mkdir()
    (tmp_path / "spectra_residual").mkdir()
    np.save(tmp_path / "spectra" / "A00205.npy", spec)
    residual = sm.spectrum(cancel(signal, fs)[0], fs)                  # the real record's QRST-cancelled residual
    np.save(tmp_path / "spectra_residual" / "A00205.npy", residual)
    both = lever._spec("A00205")
    assert both.shape == (spec.shape[0], 2 * spec.shape[1])
    np.testing.assert_array_equal(both[:, :spec.shape[1]], spec)
    np.testing.assert_array_equal(both[:, spec.shape[1]:], residual[:spec.shape[0]])
    assert not np.array_equal(residual, spec)                           # the cancellation changed the spectrum
    np.save(tmp_path / "spectra" / "X.npy", spec)
    np.save(tmp_path / "spectra_residual" / "X.npy", np.zeros((0, 0), np.float32))   # cancellation undefined
    undefined = lever._spec("X")
    assert undefined.shape == both.shape and not undefined[:, spec.shape[1]:].any()

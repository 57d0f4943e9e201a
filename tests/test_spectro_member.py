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


def test_cv_without_the_member_table_names_it(tmp_path):
    lever = sm.SpectroMember.__new__(sm.SpectroMember)
    lever.work = tmp_path
    lever.args = SimpleNamespace()
    with pytest.raises(SystemExit, match=r"spectro_oof\.npz: no such file"):
        lever.step_cv()

"""experiments/mitdb/s_lost_look.py (issue 18, session s41-slost): where the served recipe loses S beats. The rhythm
annotation and beat symbol of each beat, read from the fixture record 208's .atr, and the step that loses an S call,
through the library's rhythm gate on made-up rows."""
from pathlib import Path

import numpy as np

from ecgsl_keras.data.datasets.mitdb import MitdbReader
from ecgsl_keras.modeling.stacking import Gate
from experiments.mitdb import s_lost_look

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "mitdb"
LABELS = ["N", "S", "V", "F", "Q"]
N, S, V, F, Q = range(5)


def test_rhythm_and_symbol_of_the_fixture_beats():
    reader = MitdbReader(FIXTURE)
    beats, rhythm = reader.read_annotations("208")
    fs = 360.0
    t = beats.samples / fs
    # the annotated beats themselves, and the same beats 50 ms late (a detector's R-peak), carry their symbols
    np.testing.assert_array_equal(s_lost_look.symbols_at(beats.samples, beats.symbols, fs, t), list(beats.symbols))
    np.testing.assert_array_equal(s_lost_look.symbols_at(beats.samples, beats.symbols, fs, t + 0.05),
                                  list(beats.symbols))
    assert s_lost_look.symbols_at(beats.samples, beats.symbols, fs, [t[-1] + 2.0])[0] == ""   # no beat near
    rhy = s_lost_look.rhythm_at(rhythm, fs, t)
    assert set(rhy) == {"(N", "(T"}                      # 208's first 5 minutes: sinus and ventricular trigeminy
    starts = [(sample / fs, note) for sample, note in rhythm]
    for k in (0, 100, 300, len(t) - 1):                  # each beat under the last note starting at or before it
        assert rhy[k] == [note for start, note in starts if start <= t[k]][-1]
    # 208's trigeminy episodes hold a larger share of V beats than its sinus ones (which hold many V too)
    v = np.array([aami == "V" for aami in beats.labels])
    assert v[rhy == "(T"].mean() > v[rhy == "(N"].mean() > 0
    assert s_lost_look.rhythm_at(rhythm, fs, [0.0])[0] == ""   # before the first note (sample 9)
    assert s_lost_look.rhythm_at((), fs, t[:3]).tolist() == ["", "", ""]


def test_the_step_that_loses_an_s_call():
    mix = np.array([[0.20, 0.60, 0.10, 0.05, 0.05],     # S call, gated (AF evidence high): lost at the rhythm gate
                    [0.20, 0.60, 0.10, 0.05, 0.05],     # S call, not gated, a later rule turns it to V
                    [0.10, 0.20, 0.60, 0.05, 0.05],     # V call from the start: lost in the mix
                    [0.20, 0.60, 0.10, 0.05, 0.05]])    # S call kept to the end: not lost
    gated, fired = Gate("evidence", 30.0, "S", "N", LABELS).apply(mix, np.array([40.0, 10.0, 40.0, np.nan]))
    assert fired.tolist() == [True, False, True, False]
    later = gated.copy()
    later[1] = [0.1, 0.1, 0.7, 0.05, 0.05]             # a v_pause-like rule: S -> V
    calls = {"mix": mix.argmax(1), "rhythm_gate": gated.argmax(1), "v_gate": gated.argmax(1),
             "v_pause": later.argmax(1), "v_template": later.argmax(1)}
    got = s_lost_look.loss_stage(calls, S)
    assert got.tolist() == ["rhythm_gate", "v_pause", "mix", ""]
    # a call taken away and given back counts at the step that took it last; one given back is not lost
    calls2 = {"mix": np.array([S, S]), "rhythm_gate": np.array([N, N]), "v_gate": np.array([S, S]),
              "v_pause": np.array([V, S]), "v_template": np.array([V, S])}
    assert s_lost_look.loss_stage(calls2, S).tolist() == ["v_pause", ""]

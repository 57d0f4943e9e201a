"""Issue 18's af70 (experiments/cinc2017/rr_markov.py): Moody & Mark's short / regular / long interval states and the
Markov chains' log-likelihood ratio. A memoryless irregular series scores above a bigeminy under chains fitted on the
two; the MIT-BIH fixture's annotated beats give transitions."""
from pathlib import Path

import numpy as np

from ecgsl_keras.data import readers
from experiments.cinc2017 import rr_markov as rm
from helpers import MITDB_FIXTURE

SAMPLE = Path(__file__).resolve().parents[1] / "ecgsl_keras" / "data" / "cinc2017_sample"


def test_states_against_the_mean_before():
    rr = [1.0, 1.0, 0.8, 1.3, 1.0]
    # 1.0 vs 1.0 regular; 0.8 vs 1.0 short; 1.3 vs 0.933 long; 1.0 vs 1.025 regular
    assert rm.rr_states(rr).tolist() == [1, 0, 2, 1]
    assert rm.rr_states([0.8]).size == 0
    long = rm.rr_states(np.r_[np.full(20, 1.0), 0.5])
    assert long[-1] == 0 and (long[:-1] == 1).all()        # the reference is the last 8 intervals only


def test_counts_in_product_order():
    states = [0, 2, 1, 0, 2, 1]
    first = rm.transition_counts(states, 1)
    assert first.sum() == 5 and first[0 * 3 + 2] == 2 and first[2 * 3 + 1] == 2 and first[1 * 3 + 0] == 1
    second = rm.transition_counts(states, 2)
    assert second.sum() == 4 and second[0 * 9 + 2 * 3 + 1] == 2
    row = rm.count_row(np.r_[1.0, 1.0, 0.8, 1.3, 1.0])
    assert row.shape == (len(rm.NAMES),) and row[:9].sum() == 3 and row[9:].sum() == 2


def test_llr_ranks_memoryless_above_bigeminy():
    rng = np.random.default_rng(0)
    af = [rm.count_row(rng.uniform(0.4, 1.2, 60)) for _ in range(30)]
    bigeminy = [rm.count_row(np.tile([0.55, 1.05], 30) * rng.uniform(0.97, 1.03, 60)) for _ in range(30)]
    counts = np.array(af + bigeminy)
    labels = np.array(["A"] * 30 + ["O"] * 30)
    for order in rm.ORDERS:
        llr = rm.mean_llr(counts, rm.llr_weights(counts, labels, order), order)
        assert llr[:30].min() > 0 > llr[30:].max()
    few = rm.count_row([0.8, 0.9, 0.7])[None]
    assert np.isnan(rm.mean_llr(few, np.zeros(9), 1)).all() and np.isnan(rm.transition_shares(few)).all()
    shares = rm.transition_shares(counts)
    assert np.allclose(shares.sum(axis=1), 1.0)


def test_noisy_records_do_not_fit_a_chain():
    counts = np.array([rm.count_row(np.full(20, 1.0)), rm.count_row(np.tile([0.5, 1.0], 10))])
    weights = rm.llr_weights(counts, np.array(["A", "~"]), 1)
    assert np.allclose(weights, rm.fit_chain(counts[:1], 1) - rm.fit_chain(counts[:0], 1))


def test_mitdb_annotated_transitions():
    got = rm.mitdb_counts(MITDB_FIXTURE)
    assert got["records"] and got["other"].sum() > 100 and got["af"].shape == (9,)
    # sinus rhythm: regular -> regular dominates
    assert got["other"].argmax() == 1 * 3 + 1


def test_a_real_record_gives_counts():
    signal, fs, _ = readers.read_lead(sorted(SAMPLE.glob("A*.hea"))[0].with_suffix(""))
    row = rm.count_columns(signal, fs)
    assert row.shape == (len(rm.NAMES),) and np.isfinite(row).all() and row[:9].sum() >= rm.MIN_TRANSITIONS

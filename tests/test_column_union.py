"""Issue 18's af66 (experiments/cinc2017/column_union.py): the committed column tables joined to the 118 columns row by
row on the record id, in the tables' order, and af44's two half tables equal to the table af66 reads."""
import argparse

import numpy as np

from experiments.cinc2017 import column_union
from experiments.cinc2017.oof_table import DEFAULT_FEATURES_NPZ, DEFAULT_NPZ


def test_rr_pattern_is_its_two_halves():
    halves = [np.load(column_union.OOF / f"{name}.npz") for name in ("rr_paroxysm", "rr_block")]
    whole = np.load(column_union.OOF / "rr_pattern.npz")
    assert all(np.array_equal(h["record_id"], whole["record_id"]) for h in halves)
    np.testing.assert_array_equal(np.concatenate([h["X"] for h in halves], axis=1), whole["X"])


def test_variant_tables_join_on_the_record_id(tmp_path):
    union = column_union.ColumnUnion(argparse.Namespace(features=DEFAULT_FEATURES_NPZ, deep_oof=DEFAULT_NPZ,
                                                        work=tmp_path, k=5))
    X, names = union.variant_table(column_union.PRIMARY)
    base = union.lever.X["train"]
    assert names[:base.shape[1]] == list(union.lever.names) and len(set(names)) == len(names)
    np.testing.assert_array_equal(X[:, :base.shape[1]], base)
    col = base.shape[1]
    rng = np.random.default_rng(0)
    for table in column_union.VARIANTS[column_union.PRIMARY]:
        z = np.load(column_union.OOF / f"{table}.npz")
        width = z["X"].shape[1]
        assert names[col:col + width] == column_union.table_names(table)
        row_of = {str(r): i for i, r in enumerate(z["record_id"])}
        for i in rng.choice(len(union.ids), 25, replace=False):          # the record's own row, not its index
            np.testing.assert_array_equal(X[i, col:col + width], z["X"][row_of[union.ids[i]]].astype(np.float32))
        col += width
    assert X.shape == (len(union.ids), col)

"""Issue 18's label-audit packet (experiments/cinc2017/label_audit.py) on real CinC 2017 records (the package's
sample): a page per record, the verdict sheet with the members' out-of-fold probabilities from the committed table and
empty reader columns, the overview, and a record that is not in the table listed with its reason."""
import csv
from pathlib import Path

import numpy as np
import pytest

from experiments.cinc2017 import label_audit
from experiments.cinc2017.oof_table import DEFAULT_NPZ

SAMPLE = Path(__file__).resolve().parents[1] / "ecgsl_keras" / "data" / "cinc2017_sample"


@pytest.fixture(scope="module")
def probabilities():
    return label_audit.member_probabilities(DEFAULT_NPZ)


def test_packet_pages_sheet_and_overview(tmp_path, probabilities):
    records = {"A00205": "O_as_A", "A00386": "A_as_O", "A99999": "given"}   # the last is in no table
    out = label_audit.audit_packet(records, tmp_path, SAMPLE, probabilities)
    assert out["pages"] == 2 and list(out["skipped"]) == ["A99999"]
    for rid in ("A00205", "A00386"):
        assert (tmp_path / f"{rid}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "lorenz.png").is_file()
    with (tmp_path / "verdicts.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["record"] for r in rows] == ["A00205", "A00386"]
    assert tuple(rows[0]) == label_audit.COLUMNS
    for row in rows:
        member = probabilities[row["record"]]
        assert row["reference_label"] == member["label"] and row["reader_label"] == row["reader_notes"] == ""
        assert row["split"] == member["split"]
        assert float(row["ecgsl_p_A"]) == pytest.approx(member["ecgsl"][1], abs=5e-4)
        assert row["members_call"] == label_audit.LABELS[int(np.argmax(member["ecgsl"] + member["resnet"]))]
    index = (tmp_path / "index.md").read_text()
    assert "[A00205](A00205.png)" in index and "A99999 (given): skipped: not a record of the committed" in index


def test_the_default_records_are_af33s_unanimous_errors(probabilities):
    import json

    groups = json.loads((label_audit.HERE / "af33_results.json").read_text())["af_errors"]["unanimous_errors"]
    records = label_audit.unanimous_errors()
    assert set(records.values()) == set(groups)
    for group, entry in groups.items():           # every listed record once, under its group, as af33 counts them
        assert sum(g == group for g in records.values()) == entry["n"]
    for rid, group in records.items():            # and each is the swap its group names, by the committed labels
        assert probabilities[rid]["label"] == group[0]


def test_validation_records_have_the_served_members_probabilities(probabilities):
    from experiments.cinc2017.oof_table import load_deep_oof

    table = load_deep_oof(DEFAULT_NPZ)["ecgsl"]
    ids = [str(r) for r in table["validation_record_id"]]
    rid = ids[0]
    assert probabilities[rid]["split"] == "validation"
    assert np.allclose(probabilities[rid]["ecgsl"], table["validation_probabilities"][0])
    assert sum(m["split"] == "validation" for m in probabilities.values()) == len(ids)

"""experiments/mitdb/audit_keys.py: the field-by-field comparison of a committed key with its recomputed copy."""
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "experiments" / "mitdb"))

import audit_keys  # noqa: E402


def test_equal_but_ignored_fields_reproduces():
    committed = {"kept": True, "x": [0.1, 2], "seconds": 3.0, "command": "a", "timing_s": {"f": 1.0},
                 "train_seconds": 5, "file": "/work/wt-a/experiments/mitdb/oof/x.npz"}
    recomputed = {"kept": True, "x": [0.1 + 1e-12, 2], "seconds": 9.0, "command": "b", "timing_s": {"f": 2.0},
                  "train_seconds": 7, "file": "/work/wt-b/experiments/mitdb/oof/x.npz", "new_field": 1}
    row = audit_keys.audit_key(committed, recomputed)
    assert row["reproduced"] and not row["verdict_differs"]
    assert row["fields_added_since"] == {"n": 1, "first": ["new_field"]}


def test_differences_and_verdict():
    committed = {"chosen": {"0": {"t": 0.1}}, "spread": {"V": {"mean": 0.87566}}, "decision": "kept", "n": [1, 2]}
    recomputed = {"chosen": {"0": {"t": 0.2}}, "spread": {"V": {"mean": 0.87502}}, "decision": "kept", "n": [1, 3]}
    row = audit_keys.audit_key(committed, recomputed)
    assert not row["reproduced"] and row["n_differing_fields"] == 3
    assert [d["path"] for d in row["first_differences"]] == ["chosen.0.t", "spread.V.mean", "n[1]"]
    assert row["verdict_differs"] and [d["path"] for d in row["verdict_differences"]] == ["chosen.0.t"]
    assert audit_keys.audit_key({"a": 1}, {})["first_differences"][0]["recomputed"] == "<absent>"


def test_verdict_paths():
    assert audit_keys.is_verdict("kept") and audit_keys.is_verdict("chosen_by_inner_cv.1.chosen.corr")
    assert audit_keys.is_verdict("chosen_w.0") and audit_keys.is_verdict("forced.all_beats.decision")
    # a grid point's scores under the choice block are not the choice
    assert not audit_keys.is_verdict("chosen_by_inner_cv.0.points[0].pooled.V_sensitivity")
    assert not audit_keys.is_verdict("chosen_by_inner_cv.0.off.V_sensitivity")
    assert not audit_keys.is_verdict("seed_spread.V_sensitivity.mean")
    assert not audit_keys.is_verdict("by_record.chosen.106.V_lost")


def test_main_writes_the_audit(tmp_path):
    committed = tmp_path / "c.json"  # an absolute path stands for itself (REPO / absolute)
    committed.write_text(json.dumps({"k1": {"kept": True, "command": "x"}, "k2": {"kept": False, "v": 0.5},
                                     "k3": {"kept": False}}))
    recomputed = tmp_path / "r.json"
    recomputed.write_text(json.dumps({"k1": {"kept": True, "command": "--work /tmp/W"},
                                      "k2": {"kept": True, "v": 0.6, "command": "--work /tmp/W"},
                                      "k3": {"kept": False, "command": "--work /elsewhere"}}))
    out = tmp_path / "a.json"
    assert audit_keys.main(["--work", "/tmp/W", "--pair", f"{committed}={recomputed}", "--skip", "k3=needs models",
                            "--out", str(out)]) == 0
    audit = json.loads(out.read_text())["audit_s39"]
    assert (audit["n_keys"], audit["n_recomputed"], audit["n_reproduced"]) == (3, 2, 1)
    assert audit["not_reproduced"] == ["k2"] and audit["verdict_differs"] == ["k2"]
    assert audit["not_recomputed"] == {"k3": "needs models"}

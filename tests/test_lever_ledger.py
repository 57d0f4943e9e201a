"""experiments/cinc2017/lever_ledger.py (issue 18): every committed AF lever result is read or placed, each row is
the paired block it names (mean of its seeds' differences), a plan's primary is marked, af63's rows compare with the
shipped recipe (not its own reference arm), and a bad or unplaced results file is named. Real inputs: the committed
af*_results.json files."""
import json

import numpy as np
import pytest

from experiments.cinc2017 import lever_ledger


@pytest.fixture(scope="module")
def committed():
    return lever_ledger.ledger()


def _block(name, path):
    node = json.loads(lever_ledger.lever_files()[name].read_text())
    for key in path.split("."):
        node = node[key]
    return node


def test_every_lever_file_is_read_or_placed(committed):
    assert committed["unplaced"] == []
    levers = {row["lever"] for row in committed["rows"]} | set(committed["without_rows"])
    assert levers == set(lever_ledger.lever_files())
    assert set(committed["without_rows"]) <= set(lever_ledger.WITHOUT_ROWS)


def test_rows_are_the_paired_blocks_they_name(committed):
    rows = committed["rows"]
    assert len(rows) > 40 and all(row["title"] for row in rows)
    for row in rows:
        af = _block(row["lever"], row["path"])["af_f1"]
        assert row["af_f1"]["n"] == lever_ledger.SEEDS
        if "differences" in af:     # the mean and the positive count are those of the seeds' differences
            assert row["af_f1"]["mean"] == pytest.approx(np.mean(af["differences"]), abs=1e-12)
            assert row["af_f1"]["positive"] == sum(d > 0 for d in af["differences"])
        assert not any(part in lever_ledger.NOT_CANDIDATES for part in row["path"].split("."))


def test_a_plans_primary_is_marked_once_per_lever(committed):
    primaries = [row for row in committed["rows"] if row["primary"]]
    assert len({row["lever"] for row in primaries}) == len(primaries)
    af59 = next(row for row in primaries if row["lever"] == "af59")
    assert af59["variant"] == json.loads(lever_ledger.lever_files()["af59"].read_text())["combo_lever"]["cv"]["primary"]
    assert not any(row["primary"] for row in committed["rows"] if row["lever"] in ("af27", "af29", "af45"))


def test_af63_rows_compare_with_the_shipped_recipe(committed):
    af63 = [row for row in committed["rows"] if row["lever"] == "af63"]
    assert af63 and all(".against_base." in row["path"] for row in af63)


def test_summary_and_target_agree_with_the_rows(committed):
    goal = lever_ledger.target()
    assert goal["distance"] == pytest.approx(goal["validation_af_f1"] - goal["target"])
    summary = lever_ledger.summarise(committed["rows"], goal)
    gains = [row["af_f1"]["mean"] for row in committed["rows"]]
    assert summary["all"]["rows"] == len(gains)
    assert summary["all"]["positive"] == sum(g > 0 for g in gains)
    assert summary["all"]["largest"]["af_f1"]["mean"] == max(gains)
    assert summary["all"]["reaching_distance"] == sum(g >= -goal["distance"] for g in gains)


def _paired(differences):
    return {"differences": differences, "mean": float(np.mean(differences)), "sd": float(np.std(differences, ddof=1))}


def test_a_synthetic_folder_keeps_only_candidate_rows_and_names_bad_files(tmp_path):
    (tmp_path / "RESULTS.md").write_text("### A made-up lever (af90)\n\n### Another (af91)\n")
    six, three = [0.01, -0.02, 0.0, 0.03, 0.01, 0.02], [0.01, 0.02, 0.03]
    (tmp_path / "af90_results.json").write_text(json.dumps({"lever": {"cv": {
        "primary": "wide", "kept": False,
        "wide": {"seeds_42_44": {"paired": {"af_f1": _paired(three)}}, "paired": {"af_f1": _paired(six)}},
        "control": {"paired": {"af_f1": _paired(six)}}}}}))
    (tmp_path / "af91_results.json").write_text(json.dumps({"diagnosis": {"counts": [1, 2]}}))
    found = lever_ledger.ledger(tmp_path)
    assert [(r["lever"], r["variant"], r["primary"], r["kept"]) for r in found["rows"]] == [
        ("af90", "wide", True, False)]
    assert found["rows"][0]["af_f1"]["positive"] == 4 and found["rows"][0]["title"] == "A made-up lever"
    assert found["unplaced"] == [str(tmp_path / "af91_results.json")]
    (tmp_path / "af92_results.json").write_text("{not json")
    with pytest.raises(lever_ledger.LedgerError, match="af92_results.json"):
        lever_ledger.ledger(tmp_path)


def test_main_writes_the_json_and_the_figure(tmp_path):
    result = lever_ledger.main(["--out", str(tmp_path / "ledger.json"), "--figure", str(tmp_path / "ledger.png"),
                                "--check"])
    assert json.loads((tmp_path / "ledger.json").read_text())["summary"] == result["summary"]
    assert (tmp_path / "ledger.png").stat().st_size > 10_000

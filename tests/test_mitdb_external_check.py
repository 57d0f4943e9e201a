"""experiments/mitdb/external_check.py: the ectopy groups of record-level statements, the per-group beat counts,
and the script end to end on the repo's PTB-XL and CinC 2021 fixtures with the served mitdb-beats."""
import json

from experiments.mitdb import external_check as ec
from helpers import REPO

FIXTURES = REPO / "tests" / "fixtures"


def test_ectopy_groups_ventricular_first():
    args = (ec.PTBXL_VENTRICULAR, ec.PTBXL_ATRIAL, {"SR"})
    assert ec.ectopy_group(["SR", "PVC", "PAC"], *args) == "pvc"
    assert ec.ectopy_group(["SR", "PAC"], *args) == "pac"
    assert ec.ectopy_group(["SR", "NORM"], *args) == "sinus"
    assert ec.ectopy_group(["AFIB"], *args) == "other"
    assert ec.ectopy_group(["427084000", "284470004"], ec.SNOMED["ventricular"], ec.SNOMED["atrial"],
                           ec.SNOMED["sinus"]) == "pac"


def test_summary_counts_beats_and_false_calls():
    rows = [{"record": "d/s1", "status": "ok", "n_beats": 10, "n_N": 9, "n_S": 0, "n_V": 1, "n_F": 0, "n_Q": 0},
            {"record": "d/s2", "status": "ok", "n_beats": 10, "n_N": 10, "n_S": 0, "n_V": 0, "n_F": 0, "n_Q": 0},
            {"record": "d/p1", "status": "ok", "n_beats": 8, "n_N": 6, "n_S": 0, "n_V": 2, "n_F": 0, "n_Q": 0},
            {"record": "d/p2", "status": "refused"}]
    out = ec.summarise(rows, {"s1": "sinus", "s2": "sinus", "p1": "pvc", "p2": "pvc"})
    assert out["groups"]["sinus"]["beats"] == 20 and out["groups"]["sinus"]["called_V"] == 1
    assert out["groups"]["pvc"] == {"records": 2, "refused": 1, "beats": 8, "called_N": 6, "called_S": 0,
                                    "called_V": 2, "called_F": 0, "called_Q": 0, "records_with_V": 1,
                                    "records_with_S": 0}
    f = out["figures"]
    assert f["sinus_V_share_of_beats"] == 0.05 and f["sinus_records_with_V"] == 1
    assert f["pvc_records_with_V"] == 1 and f["pvc_records_with_V_share"] == 0.5


def test_the_check_runs_mitdb_beats_on_the_fixtures(tmp_path, capsys):
    out = tmp_path / "check.json"
    assert ec.main(["--ptbxl-dir", str(FIXTURES / "ptbxl"), "--cinc2021-dir", str(FIXTURES / "cinc2021"),
                    "--workers", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    for key, folder in (("ptbxl", FIXTURES / "ptbxl" / "records500"), ("cinc2021", FIXTURES / "cinc2021")):
        block = result[key]
        assert block["records"] == len(list(folder.rglob("*.hea"))) > 0
        assert sum(g["records"] for g in block["groups"].values()) == block["records"]
        for g in block["groups"].values():
            assert sum(g[f"called_{c}"] for c in ec.CLASSES) == g["beats"]
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["ptbxl"] == result["ptbxl"]["figures"]

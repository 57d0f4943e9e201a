"""experiments/cinc2017/external_check.py: the rhythm groups of PTB-XL's SCP codes and of CinC 2021's SNOMED codes,
the summary's AF figures, and the PTB-XL references read from the repo's PTB-XL fixture."""
from collections import Counter

from experiments.cinc2017 import external_check as ec
from helpers import REPO

FIXTURES = REPO / "tests" / "fixtures"

RHYTHM = {"SR", "AFIB", "AFLT", "STACH", "PACE", "SARRH"}


def test_ptbxl_groups_first_match_wins():
    assert ec.ptbxl_group({"AFLT": 100.0, "AFIB": 0.0}, RHYTHM) == "flutter"     # flutter is Other in CinC 2017
    assert ec.ptbxl_group({"AFIB": 0.0, "IMI": 50.0}, RHYTHM) == "af"
    assert ec.ptbxl_group({"SR": 0.0, "PVC": 100.0}, RHYTHM) == "sinus_ectopy"
    assert ec.ptbxl_group({"SR": 0.0, "NORM": 100.0}, RHYTHM) == "sinus"
    assert ec.ptbxl_group({"STACH": 0.0}, RHYTHM) == "other_rhythm"
    assert ec.ptbxl_group({"IMI": 100.0}, RHYTHM) == ec.NO_REFERENCE


def test_snomed_groups():
    assert ec.snomed_group(["164890007", "164889003"]) == "flutter"
    assert ec.snomed_group(["164889003", "427172004"]) == "af"
    assert ec.snomed_group(["427084000", "284470004"]) == "sinus_ectopy"   # sinus tachycardia with PACs
    assert ec.snomed_group(["426783006"]) == "sinus"
    assert ec.snomed_group(["59118001"]) == "other_rhythm"                      # right bundle branch block alone


def test_mitdb_window_groups():
    assert ec.mitdb_window_group({"(AFIB"}, ["N", "V"]) == "af"
    assert ec.mitdb_window_group({"(AFIB", "(N"}, ["N"]) == "af_mixed"
    assert ec.mitdb_window_group({"(AFL", "(N"}, ["N"]) == "flutter"
    assert ec.mitdb_window_group({"(N", "(B"}, ["N", "V"]) == "bigeminy_trigeminy"
    assert ec.mitdb_window_group({"(SVTA", "(N"}, ["N", "S"]) == "other_rhythm"
    assert ec.mitdb_window_group({"(N"}, ["N", "N"]) == "sinus"
    assert ec.mitdb_window_group({"(N"}, ["N", "V"]) == "sinus_ectopy"


def test_summary_counts_af_calls_per_group():
    refs = {"a1": "af", "a2": "af", "s1": "sinus", "s2": "sinus_ectopy", "x": ec.NO_REFERENCE}
    rows = [{"record": f"d/{name}", "prediction": label, "status": "ok"}
            for name, label in (("a1", "A"), ("a2", "O"), ("s1", "N"), ("s2", "A"), ("x", "A"))]
    rows.append({"record": "d/y", "status": "refused"})
    out = ec.summarise(rows, refs)
    assert out["records"] == 6 and out["refused"] == 1
    assert out["groups"]["af"] == {"N": 0, "A": 1, "O": 1, "~": 0, "records": 2}
    # x, and y, which has no reference
    assert out["groups"][ec.NO_REFERENCE] == {"N": 0, "A": 1, "O": 0, "~": 0, "refused": 1, "records": 2}
    af = out["af"]
    assert af["af_sensitivity"] == 0.5 and af["sinus_called_A"] == 1 and af["sinus_called_A_share"] == 0.5
    assert af["A_calls_with_reference"] == 2 and af["A_calls_on_af_share"] == 0.5      # x's call has no reference


def test_ptbxl_references_of_the_fixture():
    refs, codes = ec.ptbxl_references(FIXTURES / "ptbxl")
    assert set(codes) == set(refs) and all(codes.values())
    assert refs and all(name.endswith("_hr") for name in refs)
    assert set(Counter(refs.values())) <= {"flutter", "af", "sinus_ectopy", "sinus", "other_rhythm",
                                          ec.NO_REFERENCE}
    assert "sinus" in refs.values()


def test_the_check_runs_the_served_preset_on_the_fixtures(tmp_path, capsys):
    import json

    out = tmp_path / "check.json"
    assert ec.main(["--ptbxl-dir", str(FIXTURES / "ptbxl"), "--cinc2021-dir", str(FIXTURES / "cinc2021"),
                    "--mitdb-dir", str(FIXTURES / "mitdb"), "--models", "cinc2017", "--workers", "1",
                    "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert list(result["models"]) == ["cinc2017"]
    for key, folder in (("ptbxl", FIXTURES / "ptbxl" / "records500"), ("cinc2021", FIXTURES / "cinc2021")):
        block = result["models"]["cinc2017"][key]
        assert block["records"] == len(list(folder.rglob("*.hea"))) > 0
        assert sum(g["records"] for g in block["groups"].values()) == block["records"]
        called = Counter(c for g in block["groups"].values() for c in g if c != "records")
        assert set(called) <= set(ec.CLASSES) | {"refused"}
    windows = result["models"]["cinc2017"]["mitdb_windows"]          # 119's and 208's 300 s: ten 30 s windows each
    assert windows["records"] == 20 and sum(g["records"] for g in windows["groups"].values()) == 20
    assert "bigeminy_trigeminy" in windows["groups"]                       # their episodes of bigeminy and trigeminy
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["cinc2017"]["ptbxl"] == result["models"]["cinc2017"]["ptbxl"]["af"]

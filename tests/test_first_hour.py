"""A user's first hour (issue 20): the model's lead or a refusal, NumPy/CSV/EDF inputs, whole folders,
evaluate's per-record predictions and the tables for people. Real presets on the in-repo fixtures."""
import contextlib
import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ecgsl_keras.cli import evaluate as evaluate_cli
from ecgsl_keras.cli import predict as predict_cli
from ecgsl_keras.data import readers
from ecgsl_keras.errors import RecordError
from helpers import preset_predictor

# one xdist worker runs test_first_hour.py and test_presets.py (--dist loadgroup): the presets they load through
# helpers.preset_predictor (cached per process) are loaded and traced once, not once per worker
pytestmark = pytest.mark.xdist_group("presets")
CINC_RECORD = "A00386"   # 30 s at 300 Hz, label N


def _json(capsys):
    captured = capsys.readouterr()
    return json.loads(captured.out.strip().splitlines()[-1]), captured.err


def _write_wfdb(folder, name, signal, fs, leads):
    import wfdb

    wfdb.wrsamp(name, fs=fs, units=["mV"] * len(leads), sig_name=list(leads), p_signal=np.asarray(signal, np.float64),
                fmt=["16"] * len(leads), adc_gain=[200.0] * len(leads), baseline=[0] * len(leads),
                write_dir=str(folder))
    return folder / name


@pytest.fixture(scope="module")
def v1_only(fixtures_dir, tmp_path_factory):
    """60 s of MIT-BIH 119's V1 lead as a record of its own: no MLII."""
    signal, fs, _ = readers.read_lead(fixtures_dir / "mitdb" / "119", "V1")
    return _write_wfdb(tmp_path_factory.mktemp("v1"), "119v1", signal[: int(60 * fs), None], fs, ["V1"])


# --- 1. lead safety ---------------------------------------------------------------------------------

def test_choose_lead_rule():
    assert readers.choose_lead(["V5", "MLII"], "MLII") == (1, False)            # the model's lead, wherever it is
    assert readers.choose_lead(["ECG"], "MLII") == (0, False)                    # one unnamed lead: accepted
    assert readers.choose_lead([""], "MLII") == (0, False)
    assert readers.choose_lead(["V5", "V2"], None) == (0, False)                 # lead not recorded: first
    assert readers.choose_lead(["V5", "V2"], "MLII", lead="v2") == (1, True)     # on purpose, case-insensitive
    with pytest.raises(RecordError) as err:
        readers.choose_lead(["V5", "V2"], "MLII", path="102")
    assert err.value.reason == "wrong_lead" and "MLII" in str(err.value) and "['V5', 'V2']" in str(err.value)
    with pytest.raises(RecordError, match="lead 'II' not in record"):
        readers.choose_lead(["V5", "V2"], "MLII", lead="II")


@pytest.mark.slow
def test_wrong_lead_refused_and_override_honoured(v1_only, capsys):
    args = ["--model", "mitdb-beats", "--record", str(v1_only) + ".hea"]
    assert predict_cli.main(args) == 2
    err = capsys.readouterr().err
    assert "trained on lead MLII" in err and "['V1']" in err and "--lead" in err
    assert predict_cli.main(args + ["--lead", "V1"]) == 0
    out, err = _json(capsys)
    assert out["lead"] == "V1" and out["model_lead"] == "MLII" and "on purpose" in out["lead_override"]
    assert "note: running on lead V1 on purpose" in err and "ventricular ectopic beat" in err
    assert out["n_beats"] == sum(out["label_counts"].values()) > 50
    # the Python path: the same rule
    predictor = preset_predictor("mitdb-beats")
    signal, fs, lead = readers.read_lead(str(v1_only), "V1")
    with pytest.raises(RecordError, match="trained on lead MLII"):
        predictor.predict_signal(signal, fs, lead=lead)
    beats = predictor.predict_signal(signal, fs, lead=lead, lead_override=True)
    assert beats["label_counts"] == out["label_counts"]
    assert predictor.predict_signal(signal, fs)["label_counts"] == out["label_counts"]   # unnamed: accepted


# --- 2. inputs -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_npy_csv_edf_give_the_wfdb_label(cinc_dir, tmp_path, capsys):
    from wfdb.io.convert.edf import wfdb_to_edf

    record = cinc_dir / CINC_RECORD
    signal, fs, _ = readers.read_lead(record)
    np.save(tmp_path / "ecg.npy", signal)
    np.savetxt(tmp_path / "ecg.csv", np.round(signal * 1000.0)[:, None], fmt="%d", header="ECG", comments="")  # uV
    with contextlib.redirect_stdout(io.StringIO()):
        wfdb_to_edf(str(record), output_filename=str(tmp_path / "ecg.edf"))
    inputs = {"wfdb": readers.read_input(str(record) + ".hea"),
              "npy": readers.read_input(tmp_path / "ecg.npy", fs=fs),
              "csv": readers.read_input(tmp_path / "ecg.csv", fs=fs, units="uV", column="ECG"),
              "edf": readers.read_input(tmp_path / "ecg.edf")}
    for name, found in inputs.items():
        assert found.fs == fs and found.signal.size == signal.size, name   # the EDF's filling is dropped
        np.testing.assert_allclose(found.signal, signal, atol=1e-3, err_msg=name)
    predictor = preset_predictor("cinc2017")
    results = {name: predictor.predict_signal(found.signal, found.fs, lead=found.lead)
               for name, found in inputs.items()}
    assert results["wfdb"]["label"] == "N"
    for name, result in results.items():
        assert result["label"] == "N", name
        np.testing.assert_allclose(result["probabilities"], results["wfdb"]["probabilities"], atol=0.01,
                                   err_msg=name)
    # the record without its extension reads the same samples
    np.testing.assert_array_equal(readers.read_input(record).signal, inputs["wfdb"].signal)
    # the command line: a CSV in microvolts
    assert predict_cli.main(["--model", "cinc2017", "--signal", str(tmp_path / "ecg.csv"), "--fs", str(fs),
                             "--units", "uV"]) == 0
    out, err = _json(capsys)
    assert out["label"] == "N" and out["label_meaning"] == "normal rhythm" and out["lead"] == "ECG"
    assert "prediction: N  normal rhythm" in err and "atrial fibrillation" in err
    assert all(round(p, 3) == p for p in out["probabilities"].values())   # rounded to 3 places
    assert out["probabilities"]["N"] == pytest.approx(float(results["wfdb"]["probabilities"][0]), abs=0.011)


def test_signal_file_errors(tmp_path):
    np.save(tmp_path / "two.npy", np.zeros((3000, 2), np.float32))
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(RecordError, match="give it \\(--fs HZ\\)"):
        readers.read_input(tmp_path / "two.npy")
    with pytest.raises(RecordError, match="unknown unit 'mmHg'"):
        readers.read_input(tmp_path / "two.npy", fs=300, units="mmHg")
    with pytest.raises(RecordError, match="2 columns .*--column") as err:
        readers.read_input(tmp_path / "two.npy", fs=300)
    assert str(tmp_path / "two.npy") in str(err.value)
    assert readers.read_input(tmp_path / "two.npy", fs=300, column="1").signal.shape == (3000,)
    np.save(tmp_path / "leads_first.npy", np.zeros((2, 3000), np.float32))   # (leads, samples): not 2 samples
    for column in (None, "0"):
        with pytest.raises(RecordError, match=r"shape \(2, 3000\) looks like \(leads, samples\).*transpose"):
            readers.read_input(tmp_path / "leads_first.npy", fs=300, column=column)
    np.save(tmp_path / "row.npy", np.arange(3000, dtype=np.float32)[None])      # one lead as a row
    np.testing.assert_array_equal(readers.read_input(tmp_path / "row.npy", fs=300).signal, np.arange(3000))
    with pytest.raises(RecordError, match="line 3: expected 2 numbers"):
        readers.read_input(tmp_path / "bad.csv", fs=300)
    with pytest.raises(RecordError, match="apply to .npy/.csv"):
        readers.read_input(tmp_path / "A00001", fs=300)
    with pytest.raises(SystemExit):   # the command line: --signal without --fs is a usage error
        predict_cli.main(["--model", "cinc2017", "--signal", str(tmp_path / "two.npy")])


# --- 3. folders ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_folder_csv_rows_and_columns(cinc_dir, tmp_path, capsys):
    folder = tmp_path / "records"
    folder.mkdir()
    for name in ("A00205", "A00386"):
        for suffix in (".hea", ".mat"):
            shutil.copy(cinc_dir / f"{name}{suffix}", folder / f"{name}{suffix}")
    np.save(folder / "short.npy", np.zeros(300, np.float32))   # 1 s of flat line: refused, not dropped
    out_csv = tmp_path / "out.csv"
    assert predict_cli.main(["--model", "cinc2017", "--data-dir", str(folder), "--csv", str(out_csv), "--fs", "300",
                             "--workers", "2"]) == 0
    result, err = _json(capsys)
    with open(out_csv, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == ["record", "prediction", "p_N", "p_A", "p_O", "p_~", "lead", "status", "reason"]
    assert [r["record"] for r in rows] == ["A00205", "A00386", "short"]
    assert [r["status"] for r in rows] == ["ok", "ok", "refused"]
    assert [r["prediction"] for r in rows[:2]] == ["~", "N"]   # their REFERENCE labels
    assert "short.npy" in rows[2]["reason"] and rows[2]["prediction"] == ""
    for row in rows[:2]:
        assert sum(float(row[f"p_{c}"]) for c in "NAO~") == pytest.approx(1.0, abs=0.01)
    assert result["records"] == 3 and result["refused"] == 1 and list(result["refused_records"]) == ["short"]
    assert "refused short" in err and "predict" in err   # the listing and tqdm's bar


@pytest.mark.slow
def test_folder_of_subfolders_needs_recursive(fixtures_dir, tmp_path, capsys):
    records500 = fixtures_dir / "ptbxl" / "records500"          # PhysioNet's layout: records500/00000/00001_hr
    out_csv = tmp_path / "out.csv"
    argv = ["--model", "cinc2017", "--data-dir", str(records500), "--csv", str(out_csv), "--lead", "I",
            "--no-progress"]
    assert predict_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert str(records500) in err and "add --recursive" in err and not out_csv.exists()
    assert predict_cli.main(argv + ["--recursive"]) == 0
    result, _ = _json(capsys)
    with open(out_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = sorted(p.relative_to(records500).with_suffix("").as_posix() for p in records500.rglob("*.hea"))
    assert [r["record"] for r in rows] == expected and all(r.startswith("00000/") for r in expected)
    assert result["records"] == len(expected) and {r["status"] for r in rows} == {"ok"}
    assert {r["lead"] for r in rows} == {"I"}


# --- 4. evaluate --predictions ----------------------------------------------------------------------

@pytest.mark.slow
def test_evaluate_predictions_per_record_and_per_beat(cinc_dir, fixtures_dir, tmp_path, capsys):
    out_csv = tmp_path / "records.csv"
    ids = ["A00205", "A00386", "A00715", "A00931"]
    assert evaluate_cli.main(["--model", "cinc2017", "--dataset", "cinc2017", "--data-dir", str(cinc_dir),
                              "--records", *ids, "--predictions", str(out_csv), "--no-progress"]) == 0
    result, err = _json(capsys)
    rows = list(csv.DictReader(open(out_csv, newline="")))
    assert sorted(r["record"] for r in rows) == ids and result["prediction_rows"] == 4
    assert list(rows[0]) == ["record", "label", "prediction", "p_N", "p_A", "p_O", "p_~"]
    matrix = np.zeros((4, 4), int)
    for row in rows:
        matrix["NAO~".index(row["label"]), "NAO~".index(row["prediction"])] += 1
    np.testing.assert_array_equal(matrix, result["confusion_matrix"])   # the rows are what was scored
    assert "normal rhythm" in err and "confusion matrix" in err

    beats_csv = tmp_path / "beats.csv"
    assert evaluate_cli.main(["--model", "mitdb-beats", "--dataset", "mitdb", "--data-dir",
                              str(fixtures_dir / "mitdb"), "--records", "119", "--predictions", str(beats_csv),
                              "--no-progress"]) == 0
    result, _ = _json(capsys)
    rows = list(csv.DictReader(open(beats_csv, newline="")))
    assert list(rows[0])[:4] == ["record", "beat_time_s", "label", "prediction"] and len(rows) == result["n"]
    times = [float(r["beat_time_s"]) for r in rows]
    assert times == sorted(times) and 0 < times[0] < times[-1] <= 300.0
    assert sum(r["label"] == r["prediction"] for r in rows) / len(rows) == pytest.approx(result["accuracy"])
    # beat times are the annotated beats': each within 0.15 s of an annotation of 119
    import wfdb

    annotation = wfdb.rdann(str(fixtures_dir / "mitdb" / "119"), "atr")
    ann_s = annotation.sample / 360.0
    assert max(np.min(np.abs(ann_s - t)) for t in times) < 0.15


# --- 7. loose ends ----------------------------------------------------------------------------------

def test_written_files_and_export_folders_are_readable(tmp_path):
    import os
    import stat
    import tempfile

    from ecgsl_keras import fileio

    mask = os.umask(0o022)
    try:
        fileio.write_json(tmp_path / "run" / "config.json", {"a": 1})
        assert stat.S_IMODE((tmp_path / "run" / "config.json").stat().st_mode) == 0o644   # mkstemp's 0600 undone
        folder = Path(tempfile.mkdtemp(dir=tmp_path))   # 0700, as export builds its folder
        (folder / "saved_model").mkdir(mode=0o700)
        fileio.write_text_atomic(folder / "saved_model" / "x.pb", "x")
        os.chmod(folder / "saved_model" / "x.pb", 0o600)
        fileio.make_readable(folder)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755
        assert stat.S_IMODE((folder / "saved_model").stat().st_mode) == 0o755
        assert stat.S_IMODE((folder / "saved_model" / "x.pb").stat().st_mode) == 0o644
    finally:
        os.umask(mask)


def test_label_meanings_in_one_place():
    from ecgsl_keras import tasks

    assert [tasks.label_meaning(tasks.CINC2017, n) for n in "NAO~"] == \
        ["normal rhythm", "atrial fibrillation", "other rhythm", "too noisy"]
    assert tasks.label_meaning(tasks.MITDB_AAMI, "V") == "ventricular ectopic beat"
    assert tasks.label_meaning(tasks.PTBXL_SUPERDIAGNOSTIC, ["MI", "CD"]) == \
        "myocardial infarction, conduction disturbance"
    own = tasks.task_from_labels("mine", ["x", "y"])
    assert tasks.label_meaning(own, "x") == ""

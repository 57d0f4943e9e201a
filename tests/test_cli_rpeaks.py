"""``ecgsl rpeaks``: a record's R-peaks with a named detector point, on the repo's MIT-BIH fixture (tests/fixtures/mitdb,
5 minutes of records 119 and 208 with their beat annotations)."""
import csv
import json

import numpy as np
import pytest

from ecgsl_keras.cli import main as cli_main
from ecgsl_keras.cli import rpeaks as cli_rpeaks
from ecgsl_keras.data import rpeak_points
from ecgsl_keras.data.readers import read_input
from ecgsl_keras.data.rpeaks import match_peaks

from helpers import MITDB_FIXTURE


def _run(argv, capsys):
    status = cli_rpeaks.main(argv)
    out, err = capsys.readouterr()
    return status, (json.loads(out.strip().splitlines()[-1]) if status == 0 else None), err


def _annotated_beats(record):
    import wfdb

    from ecgsl_keras import tasks

    annotation = wfdb.rdann(str(MITDB_FIXTURE / record), "atr")
    return np.array([s for s, sym in zip(annotation.sample, annotation.symbol) if tasks.aami_class(sym) is not None])


@pytest.mark.parametrize("point", ["default", "mitdb-d1"])
def test_peaks_and_score_are_the_points_own_on_208(point, capsys):
    status, result, _ = _run(["--record", str(MITDB_FIXTURE / "208"), "--point", point, "--reference", "atr"], capsys)
    assert status == 0
    ecg = read_input(str(MITDB_FIXTURE / "208"), lead="MLII")
    expected = np.sort(rpeak_points.get(point).find_rpeaks(ecg.signal, ecg.fs))
    assert result["lead"] == "MLII" and result["fs"] == 360.0 and result["point"] == point
    assert result["peak_samples"] == expected.tolist() and result["n_peaks"] == expected.size
    reference = _annotated_beats("208")
    matched = match_peaks(reference, expected, int(round(0.150 * 360)))
    score = result["reference"]
    assert (score["TP"], score["FN"], score["FP"]) == (matched["tp"], matched["fn"], matched["fp"])
    assert score["beats"] == reference.size
    # 208's 5 minutes (PVCs, couplets, fusion beats): both points miss a few beats and add none
    assert score["Se"] >= 0.99 and score["+P"] >= 0.997


def test_csv_rows_and_a_signal_file_give_the_records_peaks(tmp_path, capsys):
    out = tmp_path / "peaks.csv"
    status, result, _ = _run(["--record", str(MITDB_FIXTURE / "119"), "--point", "mitdb-d1", "--csv", str(out)], capsys)
    assert status == 0 and "peak_samples" not in result
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == result["n_peaks"] > 300          # 5 minutes at about 66 beats a minute
    samples = np.array([int(r["sample"]) for r in rows])
    assert np.all(np.diff(samples) > 0)
    np.testing.assert_allclose([float(r["time_s"]) for r in rows], samples / 360.0, atol=1e-4)
    # the same lead as a .npy file (rate given): the same peaks
    ecg = read_input(str(MITDB_FIXTURE / "119"), lead="MLII")
    npy = tmp_path / "119.npy"
    np.save(npy, ecg.signal)
    status, from_npy, _ = _run(["--signal", str(npy), "--fs", "360", "--point", "mitdb-d1"], capsys)
    assert status == 0 and from_npy["peak_samples"] == samples.tolist()


def test_the_100hz_point_detects_at_100hz_and_maps_back(capsys):
    status, result, _ = _run(["--record", str(MITDB_FIXTURE / "119.hea"), "--point", "mitdb-d1-100hz",
                              "--reference", "atr"], capsys)
    assert status == 0 and result["detect_rate_hz"] == 100.0
    # peaks on the record's own 360 Hz axis, on the annotated beats
    assert result["reference"]["Se"] >= 0.997 and result["reference"]["+P"] >= 0.997
    assert max(result["peak_samples"]) < 300 * 360


def test_bad_inputs_are_one_error_line_naming_the_file(tmp_path, capsys):
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros(3600, np.float32))
    status, _, err = _run(["--signal", str(flat), "--fs", "360"], capsys)
    assert status == 2 and err.strip().splitlines()[-1].startswith("error:") and "flat.npy" in err and "flat" in err
    assert "Traceback" not in err
    status, _, err = _run(["--record", str(MITDB_FIXTURE / "208"), "--reference", "qrs"], capsys)
    assert status == 2 and "208.qrs" in err and "not found" in err
    status, _, err = _run(["--record", str(tmp_path / "nothing"), "--point", "mitdb-d1"], capsys)
    assert status == 2 and "nothing" in err
    for argv in (["--signal", str(flat), "--fs", "360", "--reference", "atr"],     # annotations go with a record
                 ["--record", str(MITDB_FIXTURE / "208"), "--point", "no-such-point"],
                 ["--signal", str(flat)]):                                            # a signal file needs its rate
        with pytest.raises(SystemExit) as exc:
            cli_rpeaks.main(argv)
        assert exc.value.code == 2
    capsys.readouterr()


def test_ecgsl_lists_the_command():
    assert "rpeaks" in cli_main.COMMANDS and "rpeaks" in cli_main.usage()

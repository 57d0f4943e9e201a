"""Bad input to the readers: every case raises a project error naming the file and the problem,
and iterating a data set skips bad records, counting them by reason.

Bad files are made in ``tmp_path`` by copying fixture files and corrupting them.
"""
import logging
import shutil

import numpy as np
import pytest
import scipy.io

from ecgsl_keras.data.datasets import (ApneaEcgReader, CinC2017Reader, MitdbReader, PtbxlReader, WfdbFolderReader,
                                  open_dataset)
from ecgsl_keras.errors import ConfigError, LabelError, RecordError


@pytest.fixture()
def cinc_copy(cinc_dir, tmp_path):
    """Six CinC records with their REFERENCE.csv lines, in a writable folder."""
    folder = tmp_path / "cinc"
    folder.mkdir()
    lines = (cinc_dir / "REFERENCE.csv").read_text().splitlines()[:6]
    for line in lines:
        rid = line.split(",")[0]
        for ext in (".mat", ".hea"):
            shutil.copyfile(cinc_dir / f"{rid}{ext}", folder / f"{rid}{ext}")
    (folder / "REFERENCE.csv").write_text("\n".join(lines) + "\n")
    return folder, [line.split(",")[0] for line in lines]


def _raises(fn, error_type, reason, *names):
    with pytest.raises(error_type) as info:
        fn()
    assert info.value.reason == reason, str(info.value)
    for name in names:
        assert name in str(info.value), (name, str(info.value))
    return info.value


# --- CinC 2017: .mat / .hea / REFERENCE.csv ----------------------------------------------------

def test_missing_mat(cinc_copy):
    folder, ids = cinc_copy
    (folder / f"{ids[0]}.mat").unlink()
    _raises(lambda: CinC2017Reader(folder).load(ids[0]), RecordError, "missing_file", f"{ids[0]}.mat", "not found")


def test_truncated_mat(cinc_copy):
    folder, ids = cinc_copy
    data = (folder / f"{ids[0]}.mat").read_bytes()
    (folder / f"{ids[0]}.mat").write_bytes(data[: len(data) // 2])
    error = _raises(lambda: CinC2017Reader(folder).load(ids[0]), RecordError, "truncated", f"{ids[0]}.mat")
    assert "bytes" in str(error)


def test_mat_without_val_variable(cinc_copy):
    folder, ids = cinc_copy
    raw = scipy.io.loadmat(str(folder / f"{ids[0]}.mat"))["val"]
    scipy.io.savemat(str(folder / f"{ids[0]}.mat"), {"ecg": raw}, format="4")
    _raises(lambda: CinC2017Reader(folder).load(ids[0]), RecordError, "bad_mat", f"{ids[0]}.mat", "'val'", "ecg")


def test_mat_that_is_not_a_mat_file(cinc_copy):
    folder, ids = cinc_copy
    (folder / f"{ids[0]}.mat").write_bytes(b"this is not MATLAB data at all" * 10)
    _raises(lambda: CinC2017Reader(folder).load(ids[0]), RecordError, "bad_mat", f"{ids[0]}.mat")


def test_mat_shape_disagrees_with_header(cinc_copy):
    folder, ids = cinc_copy
    raw = scipy.io.loadmat(str(folder / f"{ids[0]}.mat"))["val"]
    scipy.io.savemat(str(folder / f"{ids[0]}.mat"), {"val": raw[:, : raw.shape[1] // 2]}, format="4")
    _raises(lambda: CinC2017Reader(folder).load(ids[0]), RecordError, "bad_mat", f"{ids[0]}.mat", "declares")


@pytest.mark.parametrize("text, problem", [
    ("garbage\n", "number of signals"),
    ("", "no record line"),
    ("{rid} 1 300 9000\n", "signal lines"),              # record line only: truncated header
    ("{rid} 1 300\n{rid}.mat 16+24 1000/mV 16 0 0 0 0 ECG\n", "signal length"),
    ("{rid} 1 abc 9000\n{rid}.mat 16+24 1000/mV 16 0 0 0 0 ECG\n", "sampling frequency 'abc'"),
    ("{rid} 1 0 9000\n{rid}.mat 16+24 1000/mV 16 0 0 0 0 ECG\n", "sampling frequency"),
    # wfdb reads -1 as its default 250 Hz and 1e9 as 1 Hz: the record line is checked before wfdb reads it
    ("{rid} 1 -1 9000\n{rid}.mat 16+24 1000/mV 16 0 0 0 0 ECG\n", "sampling frequency '-1'"),
    ("{rid} 1 1e9 9000\n{rid}.mat 16+24 1000/mV 16 0 0 0 0 ECG\n", "sampling frequency '1e9'"),
    ("{rid} 1 300 9e3\n{rid}.mat 16+24 1000/mV 16 0 0 0 0 ECG\n", "number of samples '9e3'"),
    ("{rid} x 300 9000\n{rid}.mat 16+24 1000/mV 16 0 0 0 0 ECG\n", "number of signals 'x'"),
])
def test_corrupt_or_truncated_header(cinc_copy, text, problem):
    folder, ids = cinc_copy
    (folder / f"{ids[0]}.hea").write_text(text.format(rid=ids[0]))
    _raises(lambda: CinC2017Reader(folder).load(ids[0]), RecordError, "bad_header", f"{ids[0]}.hea", problem)


@pytest.mark.parametrize("fmt", ["8+24", "80+24", "212+24"])
def test_header_format_that_does_not_match_the_file(cinc_copy, fmt):
    """The file holds 16-bit samples: read as 8-bit (or 12-bit) they would be garbage classified with confidence."""
    folder, ids = cinc_copy
    hea = folder / f"{ids[0]}.hea"
    hea.write_text(hea.read_text().replace(" 16+24 ", f" {fmt} "))
    _raises(lambda: CinC2017Reader(folder).load(ids[0]), RecordError, "bad_header", f"{ids[0]}.mat",
            "does not match the file")


def test_reference_naming_missing_record(cinc_copy):
    folder, ids = cinc_copy
    with open(folder / "REFERENCE.csv", "a") as fh:
        fh.write("A99999,N\n")
    reader = CinC2017Reader(folder)
    assert "A99999" in reader.record_ids()
    _raises(lambda: reader.load("A99999"), LabelError, "missing_record", "REFERENCE.csv", "A99999", "does not exist")
    _raises(lambda: reader.load("B00001"), LabelError, "missing_record", "REFERENCE.csv", "B00001")


def test_reference_with_unknown_label(cinc_copy):
    folder, ids = cinc_copy
    (folder / "REFERENCE.csv").write_text(f"{ids[0]},N\n{ids[1]},AFIB\n")
    _raises(lambda: CinC2017Reader(folder), LabelError, "unknown_label", "REFERENCE.csv", "'AFIB'", "line 2")


@pytest.mark.parametrize("text, reason", [
    ("{a},N\n{b}\n", "bad_label_file"),
    ("{a},N\n{b},\n", "bad_label_file"),
    ("{a},N\n{a},A\n", "duplicate_record"),
])
def test_malformed_reference(cinc_copy, text, reason):
    folder, ids = cinc_copy
    (folder / "REFERENCE.csv").write_text(text.format(a=ids[0], b=ids[1]))
    _raises(lambda: CinC2017Reader(folder), LabelError, reason, "REFERENCE.csv", "line 2")


def test_missing_reference_and_missing_folder(cinc_copy, tmp_path):
    folder, _ = cinc_copy
    (folder / "REFERENCE.csv").unlink()
    _raises(lambda: CinC2017Reader(folder), LabelError, "missing_file", "REFERENCE.csv")
    _raises(lambda: open_dataset("cinc2017", tmp_path / "nowhere"), RecordError, "missing_file", "nowhere")


def test_iteration_skips_and_counts_bad_records_by_reason(cinc_copy, caplog):
    folder, ids = cinc_copy
    (folder / f"{ids[0]}.mat").unlink()                                             # missing_file
    data = (folder / f"{ids[1]}.mat").read_bytes()
    (folder / f"{ids[1]}.mat").write_bytes(data[:100])                              # truncated
    (folder / f"{ids[2]}.hea").write_text("garbage\n")                              # bad_header
    with open(folder / "REFERENCE.csv", "a") as fh:
        fh.write("A99999,O\n")                                                      # missing_record
    reader = CinC2017Reader(folder)
    with caplog.at_level(logging.WARNING):
        loaded = [record.record_id for record in reader]
    assert loaded == ids[3:]
    assert reader.skipped.counts == {"missing_file": 1, "truncated": 1, "bad_header": 1, "missing_record": 1}
    assert reader.skipped.total == 4
    summary = reader.skipped.summary()
    assert summary["skipped"] == 4 and "REFERENCE.csv" in summary["first_error_by_reason"]["missing_record"]
    assert "skipped 4 records" in caplog.text  # reported at the end of the iteration
    # a second pass counts afresh
    assert len(list(reader)) == 3 and reader.skipped.total == 4


# --- MIT-BIH -----------------------------------------------------------------------------------

@pytest.fixture()
def mitdb_copy(fixtures_dir, tmp_path):
    return shutil.copytree(fixtures_dir / "mitdb", tmp_path / "mitdb")    # copytree returns the copy


def test_mitdb_missing_dat(mitdb_copy):
    (mitdb_copy / "208.dat").unlink()
    _raises(lambda: MitdbReader(mitdb_copy).load("208"), RecordError, "missing_file", "208.dat", "208.hea")


def test_mitdb_truncated_dat(mitdb_copy):
    data = (mitdb_copy / "119.dat").read_bytes()
    (mitdb_copy / "119.dat").write_bytes(data[:-3000])
    _raises(lambda: MitdbReader(mitdb_copy).load("119"), RecordError, "truncated", "119.dat", "format 212")


def test_mitdb_missing_or_corrupt_annotations(mitdb_copy):
    (mitdb_copy / "119.atr").unlink()
    _raises(lambda: MitdbReader(mitdb_copy).load("119"), RecordError, "missing_file", "119.atr")
    (mitdb_copy / "208.atr").write_bytes(b"\xff" * 7)
    _raises(lambda: MitdbReader(mitdb_copy).load("208"), RecordError, "bad_annotations", "208.atr")


def test_mitdb_truncated_annotations_are_an_error_not_unlabelled_beats(mitdb_copy):
    data = (mitdb_copy / "208.atr").read_bytes()
    cut = 800 if data[798:800] != b"\x00\x00" else 802   # a cut that does not end on the marker by chance
    (mitdb_copy / "208.atr").write_bytes(data[:cut])
    _raises(lambda: MitdbReader(mitdb_copy).load("208"), RecordError, "truncated_annotations", "208.atr", "cut short")
    _raises(lambda: MitdbReader(mitdb_copy).beat_annotations_for("208"), RecordError, "truncated_annotations")
    reader = MitdbReader(mitdb_copy)
    assert [r.record_id for r in reader] == ["119"] and reader.skipped.counts == {"truncated_annotations": 1}
    from ecgsl_keras.data.prepare import prepare

    summary = prepare("mitdb", mitdb_copy, mitdb_copy.parent / "prepared", split="all", progress=False)
    assert summary["skipped"] == 1 and summary["skipped_by_reason"] == {"truncated_annotations": 1}


def test_mitdb_annotations_that_end_before_the_signal(mitdb_copy):
    """A complete file (with its end marker) whose annotations stop after one minute of five."""
    import wfdb

    ann = wfdb.rdann(str(mitdb_copy / "208"), "atr")
    keep = ann.sample < 60 * 360
    wfdb.wrann("208", "atr", ann.sample[keep], np.asarray(ann.symbol)[keep].tolist(), write_dir=str(mitdb_copy))
    assert len(MitdbReader(mitdb_copy, duration_s=50).load("208").beat_annotations.labels) > 0   # cut inside: fine
    _raises(lambda: MitdbReader(mitdb_copy).load("208"), RecordError, "truncated_annotations", "208.atr",
            "annotations end at", "signal runs to 300.0 s")


def test_mitdb_missing_lead(mitdb_copy):
    _raises(lambda: MitdbReader(mitdb_copy, lead="V5").load("208"), RecordError, "missing_lead", "208.hea", "'V5'",
            "MLII")
    _raises(lambda: MitdbReader(mitdb_copy, lead=5).load("208"), RecordError, "missing_lead", "208.hea")


def test_mitdb_records_file_naming_missing_record(mitdb_copy):
    (mitdb_copy / "RECORDS").write_text("119\n208\n100\n")
    reader = MitdbReader(mitdb_copy)
    _raises(lambda: reader.load("100"), LabelError, "missing_record", "RECORDS", "100.hea")
    assert [r.record_id for r in reader] == ["119", "208"] and reader.skipped.counts == {"missing_record": 1}


def test_mitdb_bad_limits():
    with pytest.raises(ConfigError, match="not both"):
        MitdbReader(".", sampto=10, duration_s=1.0)
    with pytest.raises(ConfigError, match="positive"):
        MitdbReader(".", duration_s=-1)


# --- Apnea-ECG ---------------------------------------------------------------------------------

@pytest.fixture()
def apnea_copy(fixtures_dir, tmp_path):
    return shutil.copytree(fixtures_dir / "apnea-ecg", tmp_path / "apnea")    # copytree returns the copy


def test_apnea_missing_dat_names_it(apnea_copy):
    _raises(lambda: ApneaEcgReader(apnea_copy).load("a02"), RecordError, "missing_file", "a02.dat")
    assert len(ApneaEcgReader(apnea_copy).minute_labels_for("a02")) > 400  # labels still readable


def test_apnea_answers_with_unknown_letter_or_bad_hour(apnea_copy):
    path = apnea_copy / "event-2-answers"
    text = path.read_text()
    path.write_text(text.replace(" 3 AAAAAAAAAAAAAAAAAAAA", " 3 AAAAAAAAAAXAAAAAAAA", 1))
    _raises(lambda: ApneaEcgReader(apnea_copy).minute_labels_for("x01"), LabelError, "unknown_label",
            "event-2-answers", "'X'", "line 5")
    path.write_text(text.replace("\n 2 ", "\n 7 ", 1))
    _raises(lambda: ApneaEcgReader(apnea_copy).minute_labels_for("x01"), LabelError, "bad_label_file",
            "event-2-answers", "hour 7")


def test_apnea_corrupt_apn(apnea_copy):
    (apnea_copy / "a01.apn").write_bytes(b"\x01\x02\x03")
    reader = ApneaEcgReader(apnea_copy)
    _raises(lambda: reader.load("a01"), LabelError, "bad_annotations", "a01.apn")
    assert [r.record_id for r in reader] == ["x01"] and reader.skipped.counts["bad_annotations"] == 1


# --- PTB-XL ------------------------------------------------------------------------------------

@pytest.fixture()
def ptbxl_copy(fixtures_dir, tmp_path):
    return shutil.copytree(fixtures_dir / "ptbxl", tmp_path / "ptbxl")    # copytree returns the copy


def test_ptbxl_database_naming_missing_record(ptbxl_copy):
    (ptbxl_copy / "records500" / "00000" / "00008_hr.hea").unlink()
    (ptbxl_copy / "records500" / "00000" / "00009_hr.dat").unlink()
    reader = PtbxlReader(ptbxl_copy, rate=500)
    _raises(lambda: reader.load("8"), LabelError, "missing_record", "ptbxl_database.csv", "00008_hr.hea")
    _raises(lambda: reader.load("9"), RecordError, "missing_file", "00009_hr.dat")
    assert len(list(reader)) == 9
    assert reader.skipped.counts == {"missing_record": 1, "missing_file": 1}
    assert len(list(PtbxlReader(ptbxl_copy, rate=100))) == 11  # the 100 Hz files are all there


def test_ptbxl_bad_scp_codes_and_columns(ptbxl_copy):
    db = ptbxl_copy / "ptbxl_database.csv"
    text = db.read_text()
    db.write_text(text.replace("\"{'NORM': 100.0, 'LVOLT': 0.0, 'SR': 0.0}\"", "\"{'NORM': 100.0\"", 1))
    _raises(lambda: PtbxlReader(ptbxl_copy), LabelError, "bad_label_file", "ptbxl_database.csv", "ecg_id 1")
    db.write_text(text.replace("strat_fold", "fold", 1))
    _raises(lambda: PtbxlReader(ptbxl_copy), LabelError, "bad_label_file", "ptbxl_database.csv", "strat_fold")
    db.write_text(text)
    (ptbxl_copy / "scp_statements.csv").unlink()
    _raises(lambda: PtbxlReader(ptbxl_copy), LabelError, "missing_file", "scp_statements.csv")


def test_ptbxl_bad_arguments_and_rate_mismatch(ptbxl_copy):
    with pytest.raises(ConfigError, match="rate must be one of"):
        PtbxlReader(ptbxl_copy, rate=250)
    with pytest.raises(ConfigError, match="folds"):
        PtbxlReader(ptbxl_copy, folds=[0])
    hea = ptbxl_copy / "records100" / "00000" / "00001_lr.hea"
    lines = hea.read_text().splitlines()
    lines[0] = lines[0].replace(" 100 ", " 250 ")
    hea.write_text("\n".join(lines) + "\n")
    _raises(lambda: PtbxlReader(ptbxl_copy).load("1"), RecordError, "bad_rate", "00001_lr.hea", "250")


# --- generic WFDB folder -----------------------------------------------------------------------

def test_wfdb_labels_csv_naming_missing_record(fixtures_dir, tmp_path):
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("record,label\nE07500,afib\nE99999,normal\n")
    reader = WfdbFolderReader(fixtures_dir / "cinc2021", labels_csv=csv_path)
    _raises(lambda: reader.load("E99999"), LabelError, "missing_record", "labels.csv", "E99999.hea")
    assert [r.record_id for r in reader] == ["E07500"] and reader.skipped.counts == {"missing_record": 1}


def test_wfdb_unknown_label_against_given_label_space(fixtures_dir, tmp_path):
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("E07500,afib\nE07501,flutter\n")
    _raises(lambda: WfdbFolderReader(fixtures_dir / "cinc2021", labels_csv=csv_path, label_names=["afib", "normal"]),
            LabelError, "unknown_label", "labels.csv", "'flutter'")
    reader = WfdbFolderReader(fixtures_dir / "cinc2021", label_names=["426783006"])
    _raises(lambda: reader.labels_for("E07500"), LabelError, "unknown_label", "E07500.hea", "Dx code")


def test_wfdb_nan_samples_are_passed_on_not_hidden(apnea_copy):
    """Invalid samples (-32768 in format 16) arrive as NaN: quality checks belong to the signal code."""
    folder = apnea_copy
    data = bytearray((folder / "a01.dat").read_bytes())
    data[200:204] = b"\x00\x80\x00\x80"
    (folder / "a01.dat").write_bytes(bytes(data))
    signal = ApneaEcgReader(folder).load("a01").signal
    assert np.isnan(signal[100:102, 0]).all() and np.isfinite(signal[:100]).all()


def test_utf16_reference_is_read_and_few_records_split_without_stratifying(cinc_copy, caplog):
    from ecgsl_keras.data.prepare import assign_splits

    folder, ids = cinc_copy
    text = (folder / "REFERENCE.csv").read_text()
    (folder / "REFERENCE.csv").write_bytes(text.encode("utf-16"))   # with its byte-order mark
    reader = CinC2017Reader(folder)
    assert reader.record_ids() == ids
    # six records in several classes: 15 % validation is one record, fewer than the classes
    assert len({reader.labels_for(rid)[0] for rid in ids}) > 1
    with caplog.at_level(logging.WARNING):
        splits = assign_splits(reader, "cinc2017", "default", 0.15, seed=0)
    assert sorted(splits) == sorted(ids) and set(splits.values()) == {"train", "validation"}
    assert "too few for a split stratified by class" in caplog.text

"""The PhysioNet readers on the real in-repo fixture.

Expected values are computed here independently of the readers: label files parsed with ``csv``,
raw ``.mat`` samples read with scipy, annotations with ``wfdb.rdann``.
"""
import ast
import collections
import csv
import shutil

import numpy as np
import pytest
import scipy.io

from ecgsl_keras import tasks
from ecgsl_keras.data.datasets import (DATASETS, ApneaEcgReader, CinC2017Reader, MitdbReader, PtbxlReader,
                                  WfdbFolderReader, cinc2017_sample_dir, dataset_options, open_dataset)
from ecgsl_keras.errors import ConfigError

# --- helpers: independent parsing of the fixture's files ---------------------------------------


def read_reference(path):
    with open(path, newline="") as fh:
        return {row[0]: row[1] for row in csv.reader(fh) if row}


def header_fields(path):
    """(fs, sig_len, [(gain, baseline)]) parsed from the header text."""
    lines = [line.split() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    fs, sig_len = float(lines[0][2]), int(lines[0][3])
    gains = []
    for fields in lines[1:]:
        gain_text = fields[2].split("/")[0]
        gain, _, baseline = gain_text.partition("(")
        gains.append((float(gain), float(baseline.rstrip(")")) if baseline else float(fields[4])))
    return fs, sig_len, gains


def parse_event2(path):
    answers, record = {}, None
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 1:
            record = parts[0]
            answers[record] = ""
        elif len(parts) == 2:
            answers[record] += parts[1]
    return answers


def peak_amplitudes(signal, samples, fs):
    """Largest |x| within 60 ms of each annotated / assumed R peak."""
    half = int(0.06 * fs)
    x = signal[:, 0]
    return np.array([np.max(np.abs(x[max(s - half, 0): s + half + 1])) for s in samples])


# --- CinC 2017 ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cinc_records(cinc_dir):
    reader = CinC2017Reader(cinc_dir)
    records = list(reader)
    return reader, records


def test_cinc_sample_dir_is_the_package_data(cinc_dir):
    assert cinc2017_sample_dir() == cinc_dir
    assert (cinc_dir / "REFERENCE.csv").is_file()


def test_cinc_ids_and_label_counts_match_reference(cinc_dir, cinc_records):
    reader, records = cinc_records
    reference = read_reference(cinc_dir / "REFERENCE.csv")
    assert reader.record_ids() == list(reference)
    assert reader.record_ids() == (cinc_dir / "RECORDS").read_text().split()
    assert len(records) == 64 and reader.skipped.total == 0
    assert collections.Counter(r.labels[0] for r in records) == collections.Counter(reference.values())
    assert collections.Counter(reference.values()) == {"N": 20, "A": 16, "O": 16, "~": 12}
    for record in records:
        assert record.labels == (reference[record.record_id],)
        assert reader.labels_for(record.record_id) == record.labels
        assert record.source == "cinc2017"


def test_cinc_signal_is_float32_mv_equal_to_raw_mat(cinc_dir, cinc_records):
    _, records = cinc_records
    for record in records:
        fs, sig_len, [(gain, baseline)] = header_fields(cinc_dir / f"{record.record_id}.hea")
        assert record.fs == fs == 300
        assert record.signal.dtype == np.float32
        assert record.signal.shape == (sig_len, 1)
        assert 9 * 300 <= sig_len <= 61 * 300
        raw = scipy.io.loadmat(str(cinc_dir / f"{record.record_id}.mat"))["val"][0]
        np.testing.assert_allclose(record.signal[:, 0], (raw - baseline) / gain, atol=1e-6)


def test_cinc_r_amplitude_is_plausible_in_mv(cinc_records):
    import neurokit2 as nk

    _, records = cinc_records
    medians = []
    for record in records:
        if record.labels[0] != "N":
            continue
        _, info = nk.ecg_peaks(record.signal[:, 0].astype(float), sampling_rate=int(record.fs))
        peaks = np.asarray(info["ECG_R_Peaks"])
        medians.append(np.median(peak_amplitudes(record.signal, peaks, record.fs)))
    assert len(medians) == 20
    assert 0.2 <= np.median(medians) <= 5.0
    assert np.mean([(0.2 <= m <= 5.0) for m in medians]) >= 0.9


def test_cinc_reference_with_header_line_and_parent_folder(cinc_dir, tmp_path):
    folder = tmp_path / "training2017"
    shutil.copytree(cinc_dir, folder)
    reference = read_reference(cinc_dir / "REFERENCE.csv")
    (folder / "REFERENCE.csv").write_text("Record,Label\n" + "".join(f"{k},{v}\n" for k, v in reference.items()))
    reader = open_dataset("cinc2017", tmp_path)  # the parent of training2017/ works too
    assert reader.data_dir == folder
    assert [reader.labels_for(rid)[0] for rid in reader.record_ids()] == list(reference.values())


def test_cinc_records_argument_restricts_and_orders(cinc_dir):
    ids = CinC2017Reader(cinc_dir).record_ids()
    reader = CinC2017Reader(cinc_dir, records=[ids[5], ids[2]])
    assert [r.record_id for r in reader] == [ids[5], ids[2]]


# --- MIT-BIH -----------------------------------------------------------------------------------

AAMI = {"N": "N", "L": "N", "R": "N", "e": "N", "j": "N", "A": "S", "a": "S", "J": "S", "S": "S",
        "V": "V", "E": "V", "F": "F", "/": "Q", "f": "Q", "Q": "Q"}


@pytest.fixture(scope="module")
def mitdb_dir(fixtures_dir):
    return fixtures_dir / "mitdb"


def test_mitdb_records_rate_shape_and_lead(mitdb_dir):
    import wfdb

    reader = MitdbReader(mitdb_dir)
    assert reader.record_ids() == ["119", "208"]
    for record in reader:
        assert record.fs == 360
        assert record.signal.shape == (5 * 60 * 360, 1) and record.signal.dtype == np.float32
        assert record.lead_names == ("MLII",)
    raw = wfdb.rdrecord(str(mitdb_dir / "208")).p_signal
    v1 = MitdbReader(mitdb_dir, lead="V1").load("208")
    assert v1.lead_names == ("V1",)
    np.testing.assert_allclose(v1.signal[:, 0], raw[:, 1], atol=1e-6)
    both = MitdbReader(mitdb_dir, lead="all").load("208")
    assert both.lead_names == ("MLII", "V1") and both.signal.shape == (108000, 2)


def test_mitdb_aami_beat_counts_match_atr(mitdb_dir):
    import wfdb

    reader = MitdbReader(mitdb_dir)
    expected_literal = {"119": {"N": 246, "V": 80}, "208": {"N": 278, "V": 168, "F": 72}}
    for record_id in reader.record_ids():
        ann = wfdb.rdann(str(mitdb_dir / record_id), "atr")
        expected = collections.Counter(AAMI[s] for s in ann.symbol if s in AAMI)
        beats = reader.load(record_id).beat_annotations
        assert collections.Counter(beats.labels) == expected == expected_literal[record_id]
        keep = [i for i, s in enumerate(ann.symbol) if s in AAMI]
        np.testing.assert_array_equal(beats.samples, ann.sample[keep])
        assert beats.symbols == tuple(ann.symbol[i] for i in keep)
        assert beats.samples.dtype == np.int64
        assert "+" not in beats.symbols and "~" not in beats.symbols
        assert reader.beat_annotations_for(record_id).labels == beats.labels
        assert reader.labels_for(record_id) == ()


def test_mitdb_rhythm_annotations_kept(mitdb_dir):
    import wfdb

    record = MitdbReader(mitdb_dir).load("208")
    ann = wfdb.rdann(str(mitdb_dir / "208"), "atr")
    expected = [(int(s), n.rstrip("\x00")) for s, sym, n in zip(ann.sample, ann.symbol, ann.aux_note) if sym == "+"]
    assert list(record.rhythm) == expected
    assert record.rhythm[0] == (9, "(N") and {r for _, r in record.rhythm} == {"(N", "(T"}


def test_mitdb_r_amplitude_plausible_at_annotated_beats(mitdb_dir):
    for record in MitdbReader(mitdb_dir):
        beats = record.beat_annotations
        normal = beats.samples[np.array(beats.labels) == "N"]
        amplitude = np.median(peak_amplitudes(record.signal, normal, record.fs))
        assert 0.2 <= amplitude <= 5.0, (record.record_id, amplitude)


def test_mitdb_duration_limit_cuts_signal_and_annotations(mitdb_dir):
    record = MitdbReader(mitdb_dir, duration_s=60).load("208")
    assert record.signal.shape == (60 * 360, 1)
    assert record.beat_annotations.samples.max() < 60 * 360
    full = MitdbReader(mitdb_dir).load("208").beat_annotations
    assert len(record.beat_annotations.samples) == int(np.sum(full.samples < 60 * 360))
    assert MitdbReader(mitdb_dir, sampto=1000).load("119").signal.shape == (1000, 1)


# --- PTB-XL ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ptbxl_dir(fixtures_dir):
    return fixtures_dir / "ptbxl"


@pytest.fixture(scope="module")
def ptbxl_expected(ptbxl_dir):
    """ecg_id -> (set of superclasses, row) parsed with csv + ast."""
    with open(ptbxl_dir / "scp_statements.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    code_column = next(iter(rows[0]))
    diagnostic = {r[code_column]: r["diagnostic_class"] for r in rows if r["diagnostic"] == "1.0"}
    with open(ptbxl_dir / "ptbxl_database.csv", newline="") as fh:
        db = {r["ecg_id"]: r for r in csv.DictReader(fh)}
    return {eid: ({diagnostic[c] for c in ast.literal_eval(r["scp_codes"]) if c in diagnostic}, r)
            for eid, r in db.items()}


@pytest.mark.parametrize("rate", [100, 500])
def test_ptbxl_multi_hot_matches_scp_codes(ptbxl_dir, ptbxl_expected, rate):
    reader = PtbxlReader(ptbxl_dir, rate=rate)
    labelled = [eid for eid, (classes, _) in ptbxl_expected.items() if classes]
    assert reader.record_ids() == labelled and len(labelled) == 11
    seen = set()
    for record in reader:
        classes, row = ptbxl_expected[record.record_id]
        assert set(record.labels) == classes
        assert record.fs == rate and record.signal.shape == (10 * rate, 1) and record.signal.dtype == np.float32
        assert record.lead_names == ("II",)
        assert record.metadata["strat_fold"] == int(row["strat_fold"])
        assert record.metadata["patient_id"] == int(float(row["patient_id"]))
        assert record.path.endswith(row["filename_lr" if rate == 100 else "filename_hr"] + ".hea")
        seen |= classes
    assert seen == set(tasks.PTBXL_SUPERDIAGNOSTIC.label_names)
    assert reader.skipped.total == 0


def test_ptbxl_unlabelled_folds_and_leads(ptbxl_dir, ptbxl_expected):
    everything = PtbxlReader(ptbxl_dir, drop_unlabelled=False)
    assert everything.record_ids() == list(ptbxl_expected)
    unlabelled = [eid for eid, (classes, _) in ptbxl_expected.items() if not classes]
    assert len(unlabelled) == 1 and everything.labels_for(unlabelled[0]) == ()
    test_folds = PtbxlReader(ptbxl_dir, folds=[9, 10])
    assert test_folds.record_ids() == [eid for eid, (c, r) in ptbxl_expected.items() if c and r["strat_fold"] in ("9", "10")]
    assert {test_folds.metadata_for(eid)["strat_fold"] for eid in test_folds.record_ids()} == {9, 10}
    twelve = PtbxlReader(ptbxl_dir, lead="all", rate=500).load("1")
    assert twelve.signal.shape == (5000, 12) and twelve.lead_names[:3] == ("I", "II", "III")
    assert PtbxlReader(ptbxl_dir, lead="avr").load("1").lead_names == ("AVR",)


def test_ptbxl_100_and_500_hz_are_the_same_ecg(ptbxl_dir):
    low = PtbxlReader(ptbxl_dir, rate=100).load("1").signal[:, 0]
    high = PtbxlReader(ptbxl_dir, rate=500).load("1").signal[:, 0]
    assert np.corrcoef(low, high[::5])[0, 1] > 0.9
    assert 0.2 <= np.percentile(np.abs(high), 99.5) <= 5.0


# --- Apnea-ECG ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def apnea_dir(fixtures_dir):
    return fixtures_dir / "apnea-ecg"


def test_apnea_record_ids_and_minute_labels_without_signal(apnea_dir):
    import wfdb

    reader = ApneaEcgReader(apnea_dir)
    headers = sorted(p.stem for p in apnea_dir.glob("*.hea"))
    assert sorted(reader.record_ids()) == headers and len(headers) == 70
    for apn in sorted(apnea_dir.glob("*.apn")):
        ann = wfdb.rdann(str(apn.with_suffix("")), "apn")
        labels = reader.minute_labels_for(apn.stem)
        assert len(labels) == len(ann.symbol) and list(labels) == list(ann.symbol)
    assert len(reader.minute_labels_for("a01")) == 489
    answers = parse_event2(apnea_dir / "event-2-answers")
    assert "".join(reader.minute_labels_for("x01")) == answers["x01"] and len(answers["x01"]) == 523
    assert collections.Counter(reader.minute_labels_for("x01")) == collections.Counter(answers["x01"])
    assert reader.record_class("x01") == "A" and reader.record_class("c03") == "C"
    assert reader.labels_for("a01") == ()


def test_apnea_generated_signals_load_with_covered_minutes(apnea_dir):
    reader = ApneaEcgReader(apnea_dir)
    answers = parse_event2(apnea_dir / "event-2-answers")
    for record_id, full in (("a01", reader.minute_labels_for("a01")), ("x01", tuple(answers["x01"]))):
        record = reader.load(record_id)
        assert record.fs == 100 and record.signal.shape == (60000, 1) and record.signal.dtype == np.float32
        assert record.minute_labels == full[:10]
        assert record.metadata["minutes_labelled"] == len(full)
        assert 0.2 <= np.percentile(np.abs(record.signal), 99.5) <= 5.0


def test_apnea_iteration_skips_records_without_dat(apnea_dir):
    reader = ApneaEcgReader(apnea_dir)
    loaded = [record.record_id for record in reader]
    assert loaded == ["a01", "x01"]
    assert reader.skipped.counts == {"missing_file": 68}
    assert ".dat" in reader.skipped.examples["missing_file"]


# --- generic WFDB folder (CinC 2021 format, Dx in headers) -------------------------------------

def _dx(path):
    line = next(line for line in path.read_text().splitlines() if line.startswith("# Dx:"))
    return set(line[5:].strip().split(","))


def test_wfdb_folder_dx_labels_and_task(fixtures_dir):
    folder = fixtures_dir / "cinc2021"
    reader = WfdbFolderReader(folder)
    expected = {p.stem: _dx(p) for p in sorted(folder.glob("*.hea"))}
    assert reader.record_ids() == sorted(expected)
    assert reader.task.kind == tasks.MULTILABEL
    assert set(reader.task.label_names) == set().union(*expected.values())
    assert len({frozenset(v) for v in expected.values()}) == 6
    for record in reader:
        assert set(record.labels) == expected[record.record_id]
        assert record.fs == 500 and record.signal.shape == (5000, 1) and record.lead_names == ("I",)
        assert record.signal.dtype == np.float32
    assert WfdbFolderReader(folder, lead="AVR").load("E07500").lead_names == ("aVR",)


def test_wfdb_folder_labels_from_csv(fixtures_dir, tmp_path):
    folder = fixtures_dir / "cinc2021"
    labels = {"E07500": "afib", "E07501": "normal", "JS20000": "normal", "HR06000": "afib"}
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("".join(f"{k}.mat,{v}\n" for k, v in labels.items()))  # no header, file names
    reader = open_dataset("wfdb", folder, labels_csv=csv_path)
    assert reader.record_ids() == list(labels)
    assert reader.task.kind == tasks.MULTICLASS and reader.task.label_names == ("afib", "normal")
    assert collections.Counter(r.labels[0] for r in reader) == collections.Counter(labels.values())


def test_wfdb_folder_without_labels(fixtures_dir):
    reader = WfdbFolderReader(fixtures_dir / "mitdb")
    assert reader.record_ids() == ["119", "208"]
    assert reader.task.label_names == () and reader.load("119").labels == ()


# --- registry ----------------------------------------------------------------------------------

def test_registry_names_aliases_and_options(cinc_dir, fixtures_dir):
    assert set(DATASETS) == {"cinc2017", "mitdb", "apnea-ecg", "ptbxl", "wfdb"}
    for name, cls in DATASETS.items():
        assert cls.name == name
    assert isinstance(open_dataset("apnea_ecg", fixtures_dir / "apnea-ecg"), ApneaEcgReader)
    assert open_dataset("ptbxl", fixtures_dir / "ptbxl", rate=500).rate == 500
    assert "rate" in dataset_options("ptbxl") and "labels_csv" in dataset_options("wfdb")
    with pytest.raises(ConfigError, match="unknown data set 'nope'"):
        open_dataset("nope", cinc_dir)
    with pytest.raises(ConfigError, match="does not take option"):
        open_dataset("cinc2017", cinc_dir, rate=100)
    assert open_dataset("mitdb", fixtures_dir / "mitdb").task is tasks.MITDB_AAMI

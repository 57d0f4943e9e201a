"""The end-to-end TFLite file (ecgsl_keras.serving.edge): raw window in, diagnosis out, detection inside."""
from __future__ import annotations

import dataclasses
import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecgsl_keras.serving import edge
from ecgsl_keras.data import rpeak_guard
from ecgsl_keras.data import signal as signal_lib
from ecgsl_keras.config import SignalConfig
from helpers import graph_guard_keeps, unguarded_window, with_large_p_waves
from ecgsl_keras.data.readers import read_lead

# one xdist worker runs this module (--dist loadgroup): its module fixtures are built once, not once per worker
pytestmark = pytest.mark.xdist_group("test_edge")

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "edge" / "classify_record.py"
# Fixture records of the four classes (all 30 s or shorter: one window each, as predict_signal sees them).
RECORDS = ("A00386", "A00715", "A00931", "A01045", "A01449", "A03880", "A04135", "A05592")
AGREEMENT_FLOOR = 0.985  # in-graph vs Python peaks at 50 ms on RECORDS (Se 0.9966, +P 0.9899; issue 21 aims at 0.995)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, cinc_dir):
    """One member of the shipped cinc2017 preset (an ensemble of three: one keeps the test fast)
    exported end to end (float32) and checked against the Python path on the fixture records."""
    from ecgsl_keras.modeling.ensemble import ensemble_members
    from ecgsl_keras.serving.export import load_classifier
    from ecgsl_keras.serving.inference import find_metadata
    from ecgsl_keras.store.runs import resolve_model_arg

    records = tmp_path_factory.mktemp("records")
    for name in RECORDS:
        for suffix in (".hea", ".mat"):
            (records / f"{name}{suffix}").symlink_to(Path(cinc_dir) / f"{name}{suffix}")
    model_path = resolve_model_arg("cinc2017")
    config, task, _ = find_metadata(model_path)
    out = tmp_path_factory.mktemp("e2e")
    member = ensemble_members(load_classifier(model_path))[0]
    report = edge.export_end_to_end(member, config, task, out, formats=("float32",), check_records=records)
    return out, report, config


@pytest.mark.slow   # module fixture exports the preset end to end (TFLite conversion): ~40 s
def test_export_files_contract_and_agreement_with_python_path(exported):
    out, report, config = exported
    meta = json.loads((out / edge.METADATA_NAME).read_text())
    assert (out / edge.tflite_name("float32")).is_file() and (out / edge.SAVED_MODEL_DIR / "saved_model.pb").is_file()
    assert meta["input"]["rate_hz"] == config.signal.target_fs
    assert meta["input"]["max_samples"] == int(30 * config.signal.target_fs)
    assert set(meta["outputs"]) == set(edge.OUTPUTS)
    agreement = report["python_path_agreement"]
    assert agreement["compared"] == len(RECORDS)
    # the same class as predict_signal on (nearly) every record, and the same beats
    assert agreement["class_agreement"] >= 7 / 8
    assert agreement["rpeak_agreement"]["sensitivity"] >= 0.9
    assert agreement["rpeak_agreement"]["ppv"] >= 0.95


@pytest.mark.slow   # module fixture exports the preset end to end (TFLite conversion): ~40 s
def test_tflite_matches_python_beats_on_a_clean_record(exported, cinc_dir):
    out, _, config = exported
    run = edge.Runner(out / edge.tflite_name("float32"))
    signal, fs, _ = read_lead(Path(cinc_dir) / "A00715")
    python_peaks = signal_lib.find_rpeaks(signal, fs, config.signal) * config.signal.target_fs / fs
    result = run(signal_lib.resample(signal, fs, config.signal.target_fs).astype(np.float32))
    assert int(result["valid"]) == 1 and int(result["status"]) == 0
    peaks = result["rpeaks"][result["rpeak_mask"]]
    assert int(result["n_beats"]) == peaks.size >= 20
    assert np.all(np.diff(peaks) > 0) and np.all(result["rpeaks"][~result["rpeak_mask"]] == -1)
    # every in-graph peak lies within 30 ms of a Python peak
    assert np.max(np.min(np.abs(peaks[:, None] - python_peaks[None, :]), axis=1)) <= 3
    assert np.isclose(result["probabilities"].sum(), 1.0, atol=1e-4)
    assert np.isclose(result["attention_weights"].sum(), 1.0, atol=1e-4)
    assert np.all(result["attention_weights"][~result["rpeak_mask"]] == 0)
    # a shorter window (20 s) is used as it is
    short = run(signal_lib.resample(signal, fs, config.signal.target_fs)[:2000].astype(np.float32))
    assert int(short["valid"]) == 1 and short["rpeaks"].max() < 2000


@pytest.mark.parametrize("case, status", [("too_long", "bad_length"), ("too_short", "bad_length"), ("nan", "nan"),
                                          ("inf", "nan"), ("flat", "flat"), ("clipped", "clipped")])
@pytest.mark.slow   # module fixture exports the preset end to end (TFLite conversion): ~40 s
def test_bad_input_gives_defined_outputs(exported, cinc_dir, case, status):
    out, _, config = exported
    run = edge.Runner(out / edge.tflite_name("float32"))
    signal, fs, _ = read_lead(Path(cinc_dir) / "A00715")
    x = signal_lib.resample(signal, fs, config.signal.target_fs).astype(np.float32)[:3000]
    window = {"too_long": np.concatenate([x, x[:10]]), "too_short": x[:150], "flat": np.full(3000, 0.3, np.float32),
              "clipped": np.clip(x, np.percentile(x, 15), np.percentile(x, 85))}.get(case, x.copy())
    if case == "nan":
        window[1000:1010] = np.nan
    if case == "inf":
        window[5] = np.inf
    result = run(window)
    assert int(result["valid"]) == 0
    assert edge.STATUS[int(result["status"])] == status
    assert int(result["n_beats"]) == 0 and not result["rpeak_mask"].any() and np.all(result["rpeaks"] == -1)
    assert np.all(result["probabilities"] == 0) and np.all(result["attention_weights"] == 0)
    assert np.all(np.isfinite(result["probabilities"]))


@pytest.mark.slow   # module fixture exports the preset end to end (TFLite conversion): ~40 s
def test_example_runs_without_tensorflow(exported, cinc_dir):
    out, _, _ = exported
    code = ("import json, runpy, sys\n"
            f"sys.argv = ['classify_record.py', '--model', {str(out / edge.tflite_name('float32'))!r}, "
            f"'--record', {str(Path(cinc_dir) / 'A01045')!r}]\n"
            "try:\n"
            f"    runpy.run_path({str(EXAMPLE)!r}, run_name='__main__')\n"
            "except SystemExit as exit:\n"
            "    assert not exit.code, exit.code\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'neurokit2', 'ecgsl_keras'))\n"
            "print(json.dumps({'imported': heavy}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "XNNPACK" not in done.stderr   # LiteRT's start-up line is dropped (quiet_interpreter)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    result, imported = json.loads(lines[-2]), json.loads(lines[-1])["imported"]
    assert imported == []
    # A01045 is labelled A (atrial fibrillation) in REFERENCE.csv
    assert result["label"] == "A" and result["windows"][0]["status"] == "ok"


@pytest.mark.slow   # module fixture exports the preset end to end (TFLite conversion): ~40 s
def test_stripped_file_gives_the_same_outputs_bit_for_bit(exported, cinc_dir, tmp_path):
    """The exported end-to-end file is stripped (``edge.convert_tflite``): smaller than the same conversion with the
    tables kept, already a fixed point of ``tflite_file.strip_file``, and every output the same under LiteRT on the
    fixture records and on a bad window."""
    from ecgsl_keras.serving import tflite_file

    out, _, config = exported
    stripped = out / edge.tflite_name("float32")
    unstripped = tmp_path / "unstripped.tflite"
    unstripped.write_bytes(edge.convert_tflite(out / edge.SAVED_MODEL_DIR, "float32", strip_tables=False))
    assert stripped.stat().st_size < unstripped.stat().st_size
    assert tflite_file.strip_empty_tables(unstripped.read_bytes()) == stripped.read_bytes()
    before, after = edge.Runner(unstripped, num_threads=1), edge.Runner(stripped, num_threads=1)
    windows = []
    for name in RECORDS:
        signal, fs, _ = read_lead(Path(cinc_dir) / name)
        windows.append(signal_lib.resample(signal, fs, config.signal.target_fs)[:3000].astype(np.float32))
    windows.append(np.full(3000, np.nan, np.float32))
    for x in windows:
        out_b, out_a = before(x), after(x)
        assert out_b.keys() == out_a.keys() == set(edge.OUTPUTS)
        for key in out_b:
            assert out_b[key].dtype == out_a[key].dtype and out_b[key].tobytes() == out_a[key].tobytes(), key


@pytest.mark.slow   # module fixture exports the preset end to end (TFLite conversion): ~40 s
def test_agreement_rows_scores_every_pair_and_resumes_from_its_cache(exported, cinc_dir, tmp_path, monkeypatch):
    """experiments/edge's one agreement loop (``gap_port.agreement_rows``: gap_port, s58_agreement,
    second_proposer_port and input_rate use it): per record and pair, the file's windows against ``find_rpeaks`` at
    the record's rate mapped to the file's; a Python point that raises is counted as refused; a rerun computes only
    the pairs its cache lacks."""
    from ecgsl_keras.data.datasets import open_dataset

    monkeypatch.syspath_prepend(str(REPO / "experiments" / "edge"))
    gap_port = importlib.import_module("gap_port")
    out, _, _ = exported
    work = tmp_path / "work"
    work.mkdir()
    (work / "export_g").symlink_to(out, target_is_directory=True)
    real, calls = signal_lib.find_rpeaks, []

    def find_rpeaks(x, fs, config, *args, **kwargs):
        calls.append(config.rpeak_minimum_gap_s)
        if config.rpeak_minimum_gap_s == 0.5:
            raise ValueError("refused")
        return real(x, fs, config, *args, **kwargs)

    monkeypatch.setattr(signal_lib, "find_rpeaks", find_rpeaks)
    python = {"default": {}, "refuse": {"rpeak_minimum_gap_s": 0.5}, "gap": gap_port.POINTS["on"]}
    reader, ids, cache = open_dataset("cinc2017", cinc_dir), list(RECORDS[:3]), work / "rows.jsonl"
    first = {k: python[k] for k in ("default", "refuse")}
    rows, geometry = gap_port.agreement_rows(work, reader, ids, {"g": {}}, first, cache)
    meta = json.loads((out / edge.METADATA_NAME).read_text())
    rate, window, lo, hi = geometry["g"]
    assert (rate, window) == (meta["input"]["rate_hz"], meta["input"]["max_samples"])
    _, _, configs = gap_port._configs(python)
    assert (lo, hi) == gap_port.classifiable_margins(configs["default"].signal, rate)
    assert [r["record"] for r in rows] == ids and len(calls) == 2 * len(ids)
    run = edge.Runner(out / edge.tflite_name("float32"), num_threads=1)
    for r in rows:
        assert set(r) == {"record", "seconds", "g|default", "g|refuse"}
        assert r["g|refuse"] == {"refused": "ValueError"}
        record = reader.load(r["record"])
        x, fs = np.asarray(record.lead(), np.float64), float(record.fs)
        assert fs != rate     # the peaks are mapped from the record's rate to the file's
        windows = gap_port.graph_windows(run, signal_lib.resample(x, fs, rate).astype(np.float32), window)
        at_rate = np.rint(real(x, fs, configs["default"].signal) * rate / fs).astype(np.int64)
        assert r["g|default"] == json.loads(json.dumps(gap_port.score_windows(windows, at_rate, lo, hi, rate)))
    tp, fn, fp = (sum(r["g|default"][k] for r in rows) for k in ("tp", "fn", "fp"))
    assert tp >= 0.9 * (tp + fn) and tp >= 0.9 * (tp + fp)
    lines = cache.read_text().splitlines()
    assert len(lines) == len(ids)
    # the same pairs again: read from the cache, nothing computed or written
    calls.clear()
    again, _ = gap_port.agreement_rows(work, reader, ids, {"g": {}}, first, cache)
    assert again == rows and not calls and cache.read_text().splitlines() == lines
    # one more Python point: only its pair is computed (counts only), the cached pairs are kept as they were
    more, _ = gap_port.agreement_rows(work, reader, ids, {"g": {}}, python, cache, counts_only=True)
    assert calls == [0.25] * len(ids)
    for old, new in zip(rows, more):
        assert {k: new[k] for k in old} == old and set(new["g|gap"]) == {"tp", "fn", "fp"}


def test_clean_fir_reproduces_signal_clean(cinc_dir):
    config = SignalConfig()
    signal, fs, _ = read_lead(Path(cinc_dir) / "A00931")
    x = signal_lib.resample(signal, fs, config.target_fs)
    reference = signal_lib.clean(x, config.target_fs, config.clean_method)
    fir = edge.clean_fir(config, edge.EdgeConfig())
    assert fir.size % 2 == 1 and abs(float(fir.sum())) < 1e-6
    filtered = np.convolve(x, fir, mode="same")
    inner = slice(fir.size, x.size - fir.size)
    assert np.corrcoef(filtered[inner], reference[inner])[0, 1] > 0.99


def test_in_graph_rr_features_match_signal_rr_features():
    config = SignalConfig()
    graph = edge.EndToEnd(None, config, max_beats=16, n_rr=3)
    peaks = np.array([40, 120, 190, 275, 350, 430, 515, 600, 690, 760, 845], np.int32)
    padded = np.full(16, 2999, np.int32)
    padded[: peaks.size] = peaks
    ok = np.arange(16) < peaks.size
    rr = graph.rr(padded, ok).numpy()[: peaks.size]
    expected = signal_lib.rr_features(peaks, config.target_fs, config.rr_local_window, config.max_rr_s)
    np.testing.assert_allclose(rr, expected, atol=1e-5)


# the last graph's traced EndToEnd.peaks: tracing it takes seconds, a window through it milliseconds, so the records
# and signs of one test go through one trace (the graph itself is kept, so a new graph is never taken for it)
_TRACED_PEAKS: dict = {}


def _graph_peaks(graph, signal_at_target, window):
    """In-graph peaks (``EndToEnd.peaks`` as a tf.function traced once per graph) over consecutive windows: a list
    of (start, length, peaks)."""
    import tensorflow as tf

    if _TRACED_PEAKS.get("graph") is not graph:
        _TRACED_PEAKS.update(graph=graph, run=tf.function(graph.peaks,
                                                          input_signature=[tf.TensorSpec((None,), tf.float32)]))
    run = _TRACED_PEAKS["run"]
    out = []
    for start in edge.window_starts(len(signal_at_target), window):
        pos, ok = run(tf.constant(signal_at_target[start:start + window], tf.float32))
        out.append((start, len(signal_at_target[start:start + window]), pos.numpy()[ok.numpy()] + start))
    return out


@pytest.mark.slow   # four 30 s windows through two graphs, each traced once (_graph_peaks)
def test_in_graph_guard_keeps_the_small_beats_of_bigeminy(fixtures_dir, monkeypatch):
    """The guard's shape rescue in the graph: on bigeminy built from MIT-BIH 119 (every other beat at 0.4
    of its amplitude) the graph keeps every beat; with the rescue off it drops a third of them."""
    from ecgsl_keras.bench import rhythms
    from ecgsl_keras.bench.rpeaks import read_mitdb

    config = SignalConfig()
    signal, fs, beats, episodes, _, symbols = read_mitdb(fixtures_dir / "mitdb", "119", with_symbols=True)
    built = rhythms.build("bigeminy", signal, fs, beats, symbols, episodes, seed=119)
    x = signal_lib.resample(built["signal"], fs, config.target_fs)[: int(120 * config.target_fs)].astype(np.float32)
    reference = np.rint(built["beats"] * config.target_fs / fs).astype(np.int64)

    def missed():
        graph = edge.EndToEnd(None, config, max_beats=128, n_rr=3)
        fn = fp = 0
        for start, length, peaks in _graph_peaks(graph, x, int(30 * config.target_fs)):
            lo, hi = start + config.r_offset, start + length - (config.beat_len - config.r_offset)
            m = signal_lib.match_peaks(reference[(reference >= lo) & (reference < hi)],
                                       peaks[(peaks >= lo) & (peaks < hi)], int(0.15 * config.target_fs))
            fn, fp = fn + m["fn"], fp + m["fp"]
        return fn, fp

    assert missed() == (0, 0)
    monkeypatch.setattr(rpeak_guard, "GUARD", dataclasses.replace(rpeak_guard.GUARD, rescue_amplitude=1.0))
    fn, _ = missed()
    assert fn > 20


@pytest.mark.parametrize("rhythm", ["bigeminy", "block21"])
def test_in_graph_guard_keeps_the_peaks_signal_guard_keep_keeps(fixtures_dir, rhythm):
    """The same guard in both places: EndToEnd.guard and signal.guard_keep on the same peaks (the unguarded
    detector's, 30 s of MIT-BIH 119 built as bigeminy or 2:1 block, at target_fs) keep the same ones."""
    from ecgsl_keras.bench import rhythms
    from ecgsl_keras.bench.rpeaks import read_mitdb

    config = SignalConfig()
    signal, fs, beats, episodes, _, symbols = read_mitdb(fixtures_dir / "mitdb", "119", with_symbols=True)
    built = rhythms.build(rhythm, signal, fs, beats, symbols, episodes, seed=119)
    cleaned, peaks, (amplitude, sharpness, width) = unguarded_window(built["signal"][: int(30 * fs)], fs, config)
    expected = peaks[signal_lib.guard_keep(peaks, amplitude, sharpness, width, config.rpeak_guard_amplitude)]
    # something to decide: 2:1 block's P waves are dropped; bigeminy's small beats are dropped without the rescue
    off = dataclasses.replace(rpeak_guard.GUARD, rescue_amplitude=1.0)
    decided = expected if rhythm == "block21" else peaks[signal_lib.guard_keep(
        peaks, amplitude, sharpness, width, config.rpeak_guard_amplitude, off)]
    assert peaks.size - decided.size > 5
    np.testing.assert_array_equal(graph_guard_keeps(config, cleaned, peaks), expected)


def test_in_graph_search_back_recovers_a_missed_beat_as_the_python_one_does(fixtures_dir):
    """EndToEnd.search_back and rpeak_guard._search_back on the same peaks with one beat left out (30 s of
    MIT-BIH 119 at target_fs): both bring it back, at the same sample give or take the apex search."""
    from ecgsl_keras.bench.rpeaks import read_mitdb

    config = SignalConfig()
    signal, fs, _, _, _ = read_mitdb(fixtures_dir / "mitdb", "119")
    fs_t = config.target_fs
    x = signal_lib.resample(signal[: int(30 * fs)], fs, fs_t)
    cleaned = signal_lib.clean(x, fs_t, config.clean_method)
    detect = signal_lib.clean(x, fs_t, config.rpeak_clean_method)
    peaks = signal_lib.find_rpeaks(x, fs_t, config, cleaned=cleaned)
    missing = peaks[12]
    left = np.delete(peaks, 12)
    python = signal_lib.guard_rpeaks(left, cleaned, detect, fs_t, dataclasses.replace(config, rpeak_guard_amplitude=0.0))
    assert python.size == peaks.size and abs(int(python[12]) - int(missing)) <= 2
    graph = edge.EndToEnd(None, config, max_beats=128, n_rr=3)
    pos = np.full(128, x.size - 1, np.int32)
    pos[: left.size] = left
    kept, ok = graph.search_back(cleaned.astype(np.float32), graph_detect(graph, x), pos, np.arange(128) < left.size)
    found = kept.numpy()[ok.numpy()]
    assert found.size == peaks.size and abs(int(found[12]) - int(python[12])) <= 2


def graph_detect(graph, x):
    """The graph's detection signal (the rpeak_clean_method FIR of the window)."""
    import tensorflow as tf

    xt = tf.constant(np.pad(x, (0, graph.n - x.size)).astype(np.float32))
    graph.detect_neurokit(xt, tf.constant(x.size))
    return graph.detect_signal


def _graph_detections(graph, x):
    """(detection signal, peak positions) of EndToEnd.detect_neurokit on a window at target_fs, with the
    refractory period applied in time order as neurokit2 does (the graph applies it in ``refine``)."""
    import tensorflow as tf

    xt = tf.constant(np.pad(x, (0, graph.n - x.size)).astype(np.float32))
    beat, _ = graph.detect_neurokit(xt, tf.constant(x.size))
    det = graph.detect_signal.numpy()[: x.size].astype(np.float64)
    delay = int(np.rint(graph.edge.min_delay_s * graph.fs))
    kept, last = [], 0
    for p in np.flatnonzero(beat.numpy()):
        if p - last > delay:
            kept.append(int(p))
            last = p
    return det, np.asarray(kept, np.int64)


def test_in_graph_detector_is_neurokit2s_on_the_same_signal(cinc_dir):
    """Given the same detection signal, EndToEnd.detect_neurokit finds exactly the peaks of neurokit2's
    "neurokit" method (boxcar smoothing as signal_smooth, regions as neurokit2 pairs them, the most
    prominent local maximum of each region, the refractory period)."""
    config = SignalConfig()
    graph = edge.EndToEnd(None, config, max_beats=128, n_rr=3)
    total = mismatched = 0
    for name in RECORDS:
        signal, fs, _ = read_lead(Path(cinc_dir) / name)
        x = signal_lib.resample(signal, fs, config.target_fs)[: graph.n]
        det, peaks = _graph_detections(graph, x)
        reference = signal_lib.detect_rpeaks(det, config.target_fs, "neurokit", cleaned=True,
                                             mindelay=config.rpeak_mindelay_s)
        total += reference.size
        mismatched += np.setxor1d(reference, peaks).size
    assert total > 250
    assert mismatched <= total // 500


def test_clean_fir_at_the_native_rate_reproduces_cleaning_before_resampling(cinc_dir):
    """clean_rate = the records' rate (300 Hz on CinC): the FIR at target_fs reproduces what the Python
    path does, signal.clean at 300 Hz and then resampling, closer than the FIR measured at target_fs."""
    config = SignalConfig()
    signal, fs, _ = read_lead(Path(cinc_dir) / "A00931")
    x = signal_lib.resample(signal, fs, config.target_fs)
    reference = signal_lib.resample(signal_lib.clean(signal, fs, config.clean_method), fs, config.target_fs)[: x.size]
    errors = {}
    for rate in (None, fs):
        fir = edge.clean_fir(config, edge.EdgeConfig(clean_rate=rate))
        filtered = np.convolve(x, fir, mode="same")
        inner = slice(fir.size, x.size - fir.size)
        errors[rate] = np.sqrt(np.mean((filtered[inner] - reference[inner]) ** 2)) / np.std(reference[inner])
    assert errors[fs] < 0.05 and errors[fs] < errors[None]


def test_resolve_edge_config_picks_the_records_rate():
    config = SignalConfig()
    assert edge.resolve_edge_config(edge.EdgeConfig(), config, "cinc2017").clean_rate == 300.0
    assert edge.resolve_edge_config(edge.EdgeConfig(input_rate=500.0), config, "cinc2017").clean_rate == 500.0
    assert edge.resolve_edge_config(edge.EdgeConfig(clean_rate=250.0), config, "cinc2017").clean_rate == 250.0
    assert edge.resolve_edge_config(edge.EdgeConfig(), config, "other").clean_rate is None


@pytest.mark.slow   # eight records through both detectors (the graph traced once, _graph_peaks)
def test_in_graph_peaks_agree_with_python_peaks_on_fixture_records(cinc_dir):
    """EndToEnd.peaks against signal.find_rpeaks within 50 ms on the fixture records (the beats the graph
    can classify). Issue 21's target is 99.5%; the filters and the detector still differ (docs/edge.md)."""
    config = SignalConfig()
    graph = edge.EndToEnd(None, config, max_beats=128, n_rr=3,
                          edge=edge.resolve_edge_config(edge.EdgeConfig(), config, "cinc2017"))
    tp = fn = fp = 0
    for name in RECORDS:
        signal, fs, _ = read_lead(Path(cinc_dir) / name)
        python = np.rint(signal_lib.find_rpeaks(signal, fs, config) * config.target_fs / fs).astype(np.int64)
        x = signal_lib.resample(signal, fs, config.target_fs).astype(np.float32)
        for start, length, peaks in _graph_peaks(graph, x, int(30 * config.target_fs)):
            lo, hi = start + config.r_offset, start + length - (config.beat_len - config.r_offset)
            m = signal_lib.match_peaks(python[(python >= lo) & (python < hi)], peaks[(peaks >= lo) & (peaks < hi)],
                                       int(0.05 * config.target_fs))
            tp, fn, fp = tp + m["tp"], fn + m["fn"], fp + m["fp"]
    assert tp > 250
    print(f"in-graph vs Python peaks: Se {tp / (tp + fn):.4f} +P {tp / (tp + fp):.4f}")
    assert tp / (tp + fn) >= AGREEMENT_FLOOR and tp / (tp + fp) >= AGREEMENT_FLOOR


@pytest.mark.parametrize("options,message", [(["--input-rate", "50"], "input rate 50 Hz"),
                                             (["--input-rate", "450"], "integer multiple"),
                                             (["--window-s", "0.5"], "window of 0.5 s is too short"),
                                             (["--clean-rate", "50"], "clean rate 50 Hz")])
def test_export_cli_end_to_end_options_reach_the_check(options, message, tmp_path, capsys):
    """The CLI's --window-s / --input-rate are what the end-to-end export checks: an unservable value is
    refused with exit 2 and a one-line error before any model is loaded, and nothing is written."""
    from ecgsl_keras.cli import export as export_cli

    out = tmp_path / "e2e"
    assert export_cli.main(["--model", "cinc2017", "--out", str(out), "--end-to-end"] + options) == 2
    err = capsys.readouterr().err
    assert "error: " in err and message in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_export_cli_passes_end_to_end_options_on(tmp_path, capsys, monkeypatch):
    from ecgsl_keras.cli import export as export_cli

    calls = []
    monkeypatch.setattr(export_cli, "export_model", lambda *a, **kw: calls.append((a, kw)) or {"ok": True})
    assert export_cli.main(["--model", "cinc2017", "--out", str(tmp_path / "a"), "--end-to-end", "--window-s", "20",
                            "--input-rate", "300"]) == 0
    assert export_cli.main(["--model", "cinc2017", "--out", str(tmp_path / "b")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"ok": True}
    (_, with_e2e), (_, without) = calls
    assert with_e2e["end_to_end"] == edge.EdgeConfig(window_s=20.0, input_rate=300.0)
    assert without["end_to_end"] is None
    # 300 Hz is 3 x the model's 100 Hz: accepted by the real check
    edge.check_config(SignalConfig(), with_e2e["end_to_end"])
    # a per-beat preset is refused for the end-to-end file, with the reason
    monkeypatch.undo()
    assert export_cli.main(["--model", "mitdb-beats", "--out", str(tmp_path / "c"), "--end-to-end"]) == 2
    assert "labels each beat" in capsys.readouterr().err


class _SumModel:
    """Stands in for the classifier where only the front end is tested."""

    def __call__(self, inputs, training=False):
        import tensorflow as tf

        total = tf.reduce_sum(inputs["beats"], axis=[1, 2])[:, None]
        return {"probabilities": tf.nn.softmax(tf.concat([total, -total], axis=1)),
                "attention_weights": tf.reduce_sum(inputs["rr"], axis=-1)}


def test_input_rate_multiple_of_target_decimates_inside(cinc_dir):
    import tensorflow as tf

    config = SignalConfig()
    signal, fs, _ = read_lead(Path(cinc_dir) / "A00931")          # 300 Hz
    at_target = edge.EndToEnd(_SumModel(), config, 128, 3)
    native = edge.EndToEnd(_SumModel(), config, 128, 3, edge.EdgeConfig(input_rate=fs))
    a = at_target(tf.constant(signal_lib.resample(signal, fs, config.target_fs).astype(np.float32)[:3000]))
    b = native(tf.constant(signal[: int(30 * fs)]))
    assert int(a["valid"]) == int(b["valid"]) == 1
    peaks_a = a["rpeaks"].numpy()[a["rpeak_mask"].numpy()] * int(fs // config.target_fs)
    peaks_b = b["rpeaks"].numpy()[b["rpeak_mask"].numpy()]
    assert peaks_a.size == peaks_b.size >= 20
    assert np.max(np.abs(peaks_a - peaks_b)) <= 3                 # one sample at 100 Hz


def test_detection_at_the_input_rate_finds_the_python_peaks(cinc_dir):
    """EdgeConfig(detect_at_input_rate=True) with a 300 Hz input: the neurokit detector runs at 300 Hz, as
    signal.find_rpeaks does on a 300 Hz record, and the peaks (at the input rate) agree within 50 ms."""
    import tensorflow as tf

    config = SignalConfig()
    signal, fs, _ = read_lead(Path(cinc_dir) / "A00931")          # 300 Hz
    graph = edge.EndToEnd(None, config, 128, 3, edge.EdgeConfig(input_rate=fs, clean_rate=fs, detect_at_input_rate=True))
    x = signal[: int(30 * fs)]
    pos, ok = graph.peaks(tf.constant(x.astype(np.float32)))
    found = pos.numpy()[ok.numpy()]
    python = signal_lib.find_rpeaks(x, fs, config)
    lo, hi = int(config.r_offset * 3), x.size - int((config.beat_len - config.r_offset) * 3)
    m = signal_lib.match_peaks(python[(python >= lo) & (python < hi)], found[(found >= lo) & (found < hi)], int(0.05 * fs))
    assert m["tp"] >= 20 and m["fn"] == 0 and m["fp"] == 0


@pytest.mark.parametrize("options", [{"input_rate": 360.0}, {"input_rate": 50.0}, {"window_s": 0.5},
                                     {"detector": "nope"}, {"clean_rate": 50.0}])
def test_unservable_configs_are_refused(options):
    from ecgsl_keras.errors import ConfigError

    with pytest.raises(ConfigError):
        edge.check_config(SignalConfig(), edge.EdgeConfig(**options))


@pytest.mark.parametrize("options", [{"rpeak_mindelay_keep": "prominent_negative"}, {"rpeak_searchback_shape": 1.1},
                                     {"rpeak_searchback_irregular": 1.3},
                                     {"rpeak_guard_p_wave": 0.8, "rpeak_guard_p_wave_gap": 1.5},
                                     {"rpeak_second_proposer": 0.5}, {"rpeak_guard_wide": 2.0},
                                     {"rpeak_rescue_cluster": 0.9}, {"rpeak_guard_t_wave": 0.8},
                                     {"rpeak_guard_residual": 0.5},
                                     {"rpeak_guard_own_t": 0.5}, {"rpeak_second_run": 0.8},
                                     {"rpeak_guard_blocked_p": 0.9}, {"rpeak_guard_p_wave_gap": 1.5},
                                     {"rpeak_rescue_templates": 0.95},
                                     {"rpeak_propose_templates": 0.9},
                                     {"rpeak_mindelay_keep": "prominent", "rpeak_region_threshold": 1.3},
                                     {"rpeak_mindelay_keep": "prominent", "rpeak_region_min_length": 0.2},
                                     {"rpeak_mindelay_keep": "prominent", "rpeak_run_threshold": 1.3},
                                     {"rpeak_mindelay_keep": "prominent_negative_last", "rpeak_minimum_gap_s": 0.25,
                                      "rpeak_minimum_gap_amplitude": 0.5},
                                     {"rpeak_mindelay_keep": "prominent_negative_last", "rpeak_minimum_gap_s": 0.25,
                                      "rpeak_minimum_gap_final": 0.5},
                                     {"rpeak_mindelay_keep": "prominent_negative_last", "rpeak_minimum_gap_s": 0.25,
                                      "rpeak_minimum_gap_final": 0.5, "rpeak_minimum_gap_after_guard": True},
                                     {"rpeak_mindelay_keep": "prominent", "rpeak_region_mean_cap": 1.5},
                                     {"rpeak_mindelay_keep": "prominent_negative_last", "rpeak_minimum_gap_s": 0.25,
                                      "rpeak_minimum_gap_final": 0.5, "rpeak_minimum_gap_new_only": True},
                                     {"rpeak_mindelay_keep": "prominent_negative_last", "rpeak_minimum_gap_s": 0.25,
                                      "rpeak_minimum_gap_pair": 0.8},
                                     {"rpeak_mindelay_keep": "prominent_negative_last", "rpeak_minimum_gap_s": 0.25,
                                      "rpeak_minimum_gap_pair": 0.8, "rpeak_minimum_gap_pair_guarded": True},
                                     {"rpeak_mindelay_keep": "prominent_negative_last", "rpeak_minimum_gap_s": 0.25,
                                      "rpeak_minimum_gap_pair": 0.6, "rpeak_minimum_gap_pair_slope": 0.5},
                                     {"rpeak_mindelay_keep": "prominent_negative_last", "rpeak_minimum_gap_s": 0.25,
                                      "rpeak_minimum_gap_pair": 0.6, "rpeak_minimum_gap_pair_correlation": 0.9},
                                     {"rpeak_mindelay_keep": "prominent_negative_last", "rpeak_minimum_gap_s": 0.25,
                                      "rpeak_minimum_gap_pair": 0.6, "rpeak_minimum_gap_pair_correlation": 0.9,
                                      "rpeak_minimum_gap_pair_templates": 0.95}])
def test_python_only_detector_options_are_refused(options):
    # issue 21's refractory rule and shape-checked search back run in the Python path only
    from ecgsl_keras.errors import ConfigError

    with pytest.raises(ConfigError, match="Python|graph"):
        edge.check_config(SignalConfig(**options), edge.EdgeConfig())


def test_every_rpeak_field_is_either_run_by_the_graph_or_refused():
    """A new SignalConfig R-peak option must be classified: the graph runs it (GRAPH_RPEAK_FIELDS) or refuses it
    (PYTHON_ONLY_RPEAK_OPTIONS). An unclassified one would be ignored silently by the exported graph."""
    import dataclasses

    fields = {f.name for f in dataclasses.fields(SignalConfig) if f.name.startswith("rpeak_")}
    graph, python_only = set(edge.GRAPH_RPEAK_FIELDS), set(edge.PYTHON_ONLY_RPEAK_OPTIONS)
    assert not graph & python_only
    assert fields == graph | python_only, sorted(fields ^ (graph | python_only))


@pytest.mark.parametrize("options", [{"rpeak_correct_artifacts": True},
                                     {"rpeak_rescue_wide_aligned": 0.9},
                                     {"rpeak_rescue_wide_aligned": 0.9, "rpeak_rescue_wide_aligned_contrast": 2.0}])
def test_later_python_only_options_are_refused_by_the_graph(options):
    """Runs s62 / s63's aligned wide rescue and neurokit2's artifact correction run in the Python path only."""
    from ecgsl_keras.errors import ConfigError

    config = SignalConfig(**options)
    with pytest.raises(ConfigError, match="Python path only"):
        edge.check_config(config, edge.EdgeConfig())


@pytest.mark.slow   # two minutes of a 100 Hz record through two graphs, each traced once (_graph_peaks)
def test_in_graph_prominent_refractory_rule_finds_the_qrs_after_a_large_p_wave(fixtures_dir):
    """rpeak_mindelay_keep="prominent" in the graph (EndToEnd.refine): on MIT-BIH 119 with a sharp P-like bump
    0.7 x the QRS 200 ms before every third beat, neurokit2's rule (keep the first) loses those beats in the
    graph too, the prominent rule finds them, and the graph agrees with signal.find_rpeaks."""
    from ecgsl_keras.bench.rpeaks import read_mitdb

    signal, fs, beats, _, _, _ = read_mitdb(fixtures_dir / "mitdb", "119", with_symbols=True)
    x, targets = with_large_p_waves(signal, fs, beats)
    target_fs = SignalConfig().target_fs
    x = signal_lib.resample(x, fs, target_fs)[: int(120 * target_fs)].astype(np.float32)
    targets = np.rint(targets * target_fs / fs).astype(np.int64)
    results = {}
    for keep in ("first", "prominent"):
        config = SignalConfig(rpeak_mindelay_keep=keep)
        graph = edge.EndToEnd(None, config, max_beats=128, n_rr=3)
        python = signal_lib.find_rpeaks(x, target_fs, config)
        hit = agree = 0
        n_targets = n_python = 0
        for start, length, peaks in _graph_peaks(graph, x, int(30 * target_fs)):
            lo, hi = start + config.r_offset, start + length - (config.beat_len - config.r_offset)
            inner = targets[(targets >= lo) & (targets < hi)]
            hit += signal_lib.match_peaks(inner, peaks, int(0.15 * target_fs))["tp"]
            n_targets += inner.size
            ref = python[(python >= lo) & (python < hi)]
            agree += signal_lib.match_peaks(ref, peaks[(peaks >= lo) & (peaks < hi)], int(0.05 * target_fs))["tp"]
            n_python += ref.size
        results[keep] = (hit, n_targets, agree, n_python)
    hit, n_targets, agree, n_python = results["first"]
    assert n_targets >= 20 and hit < 0.5 * n_targets
    hit, n_targets, agree, n_python = results["prominent"]
    assert hit >= n_targets - 1 and agree >= n_python - 1


@pytest.mark.slow   # one 30 s window of a 100 Hz record through the graph four times (eager TensorFlow): ~5 s
@pytest.mark.parametrize("keep", ["first", "prominent"])
def test_in_graph_keep_first_beat_matches_python(fixtures_dir, keep):
    """rpeak_keep_first_beat in the graph (EndToEnd.refine): MIT-BIH 119 starting 0.1 s before a beat; without the
    option the graph loses that beat as neurokit2 does, with it the graph keeps it, and agrees with signal.find_rpeaks
    on every peak of the window (50 ms)."""
    from ecgsl_keras.bench.rpeaks import read_mitdb

    signal, fs, beats, _, _, _ = read_mitdb(fixtures_dir / "mitdb", "119", with_symbols=True)
    start = int(beats[10] - round(0.1 * fs))
    target_fs = SignalConfig().target_fs
    x = signal_lib.resample(signal[start:], fs, target_fs)[: int(30 * target_fs)].astype(np.float32)
    first = int(round(0.1 * target_fs))
    tolerance = int(0.05 * target_fs)
    for on in (False, True):
        config = SignalConfig(rpeak_mindelay_keep=keep, rpeak_keep_first_beat=on)
        graph = edge.EndToEnd(None, config, max_beats=128, n_rr=3)
        (_, _, peaks), = _graph_peaks(graph, x, x.size)
        python = signal_lib.find_rpeaks(x, target_fs, config)
        assert bool(np.abs(peaks - first).min() <= tolerance) is on
        assert bool(np.abs(python - first).min() <= tolerance) is on
        m = signal_lib.match_peaks(python, peaks, tolerance)
        assert m["fn"] <= 1 and m["fp"] <= 1 and m["tp"] >= 30


def _negative_beats(fs, lead_s=None):
    """30 s at ``fs``, no noise: narrow positive beats and negative beats (QRS regions with no maximum, a sharp fall
    and a slow rise, so the R apex is one sample). ``lead_s`` None: every fourth beat of a 0.9 s rhythm is negative
    and a sharp dip sits 0.25 s before every fourth other one (rpeaks' ``"prominent_negative_last"`` test); else a
    narrow beat every 1 s and a negative one ``lead_s`` after every other one (inside the 0.3 s mindelay). The
    signal, the narrow and the negative beats."""
    t = np.arange(int(30 * fs)) / fs
    x = np.zeros(t.size)
    if lead_s is None:
        beats = np.arange(0.6, 29.0, 0.9)
        negative, narrow = beats[3::4], np.setdiff1d(beats, beats[3::4])
        for at in beats[1::4]:
            x -= 1.5 * np.exp(-0.5 * ((t - at + 0.25) / 0.014) ** 2)
    else:
        narrow = np.arange(1.0, 29.0, 1.0)
        negative = narrow[1::2] + lead_s
    for at in narrow:
        x += np.exp(-0.5 * ((t - at) / 0.012) ** 2)
    for at in negative:
        d = t - at
        x -= np.exp(-0.5 * (d / np.where(d < 0, 0.015, 0.04)) ** 2)
    return x, np.round(narrow * fs).astype(int), np.round(negative * fs).astype(int)


def _contest_on_the_same_signal(graph, x):
    """(detection signal, peaks): EndToEnd.detect_neurokit on a window at target_fs, then
    EndToEnd.refractory_contest on all its peaks in time order."""
    import tensorflow as tf

    xt = tf.constant(np.pad(x, (0, graph.n - x.size)).astype(np.float32))
    beat, _ = graph.detect_neurokit(xt, tf.constant(x.size))
    k = graph.max_beats
    found = np.flatnonzero(beat.numpy()).astype(np.int32)
    assert found.size <= k
    raw = np.full(k, graph.n - 1, np.int32)
    raw[: found.size] = found
    kept = graph.refractory_contest(tf.constant(raw), tf.constant(np.arange(k) < found.size),
                                    tf.gather(graph.peak_prominence, raw), tf.gather(graph.peak_minimum, raw))
    return graph.detect_signal.numpy()[: x.size].astype(np.float64), raw[kept.numpy()]


@pytest.mark.slow   # 40 windows through the graph's detector, four settings (eager TensorFlow): ~25 s
def test_in_graph_negative_fallback_and_gap_are_pythons_contest_on_the_same_signal(cinc_dir, fixtures_dir):
    """rpeak_mindelay_keep="prominent_negative_last" (a QRS region with no maximum gives its minimum, which never wins
    the contest) and rpeak_minimum_gap_s (such a minimum kept at least the gap after the last kept peak) in the graph:
    given the same detection signal, EndToEnd.detect_neurokit + refractory_contest keep the peaks of
    rpeaks._findpeaks_neurokit: exactly on the built negative beats, and on the fixture records, as recorded and
    inverted (negative QRS), all but the peaks in a window's last 0.2 s."""
    from ecgsl_keras.bench.rpeaks import read_mitdb
    from ecgsl_keras.data import rpeaks as rpeaks_lib

    fs = SignalConfig().target_fs
    windows = [_negative_beats(fs)[0], _negative_beats(fs, 0.26)[0]]
    for name in RECORDS:
        signal, rate, _ = read_lead(Path(cinc_dir) / name)
        windows.append(signal_lib.resample(signal, rate, fs)[: int(30 * fs)])
    for rid in ("119", "208"):
        signal, rate, *_ = read_mitdb(fixtures_dir / "mitdb", rid)
        x = signal_lib.resample(signal, rate, fs)
        windows += [x[start:start + int(30 * fs)] for start in range(0, int(90 * fs), int(30 * fs))]
    windows += [-x for x in windows[2:]]
    total = 0
    for gap in (0.0, 0.25):
        for first_beat in (False, True):
            config = SignalConfig(rpeak_mindelay_keep="prominent_negative_last", rpeak_minimum_gap_s=gap,
                                  rpeak_keep_first_beat=first_beat)
            graph = edge.EndToEnd(None, config, max_beats=128, n_rr=3)
            for i, x in enumerate(windows):
                det, peaks = _contest_on_the_same_signal(graph, x)
                python = rpeaks_lib._findpeaks_neurokit(det, fs, mindelay=config.rpeak_mindelay_s,
                                                        keep="prominent_negative_last", minimum_gap=gap,
                                                        keep_first_beat=first_beat)
                if i < 2:
                    np.testing.assert_array_equal(peaks, python)
                # a region in a window's last samples is paired otherwise (16 peaks in the last 0.2 s differ)
                inner = x.size - int(0.2 * fs)
                np.testing.assert_array_equal(peaks[peaks < inner], python[python < inner])
                total += python.size
    assert total > 4000


@pytest.mark.slow   # one 30 s window through the graph three times (eager TensorFlow): ~10 s
def test_in_graph_negative_fallback_and_gap_find_pythons_negative_beats(fixtures_dir):
    """The whole in-graph detection (EndToEnd.peaks: contest, apex, guard, search back) with the Python path's two
    options on built negative beats (the detector on the clean_method copy, whose negative QRS regions have no
    maximum): "prominent_negative_last" finds the ones outside mindelay and loses no QRS to a dip before it, those
    0.26 s after a beat only with rpeak_minimum_gap_s 0.25, and every in-graph peak is signal.find_rpeaks' within
    50 ms."""
    fs = SignalConfig().target_fs
    tolerance = int(0.05 * fs)
    for lead_s, gap, found in ((None, 0.0, True), (0.26, 0.0, False), (0.26, 0.25, True)):
        x, narrow, negative = _negative_beats(fs, lead_s)
        config = SignalConfig(rpeak_clean_method="", rpeak_mindelay_keep="prominent_negative_last",
                              rpeak_minimum_gap_s=gap)
        graph = edge.EndToEnd(None, config, max_beats=128, n_rr=3)
        (_, _, peaks), = _graph_peaks(graph, x.astype(np.float32), x.size)
        python = signal_lib.find_rpeaks(x, fs, config)
        assert signal_lib.match_peaks(narrow, peaks, tolerance)["fn"] == 0
        assert signal_lib.match_peaks(negative, peaks, 2 * tolerance)["tp"] == (negative.size if found else 0)
        m = signal_lib.match_peaks(python, peaks, tolerance)
        assert m["fn"] == 0 and m["fp"] == 0


@pytest.mark.slow   # eight records, as recorded and inverted, through both detectors (one trace, _graph_peaks)
def test_in_graph_peaks_agree_with_python_peaks_with_the_gap_on(cinc_dir):
    """EndToEnd.peaks against signal.find_rpeaks within 50 ms on the fixture records, as recorded and inverted (their
    QRS regions then fall first), with the ported options on (issue 21 run s48's point: rpeak_mindelay_keep
    "prominent_negative_last", rpeak_minimum_gap_s 0.25): as close as the default detector's (AGREEMENT_FLOOR)."""
    config = SignalConfig(rpeak_mindelay_keep="prominent_negative_last", rpeak_minimum_gap_s=0.25)
    graph = edge.EndToEnd(None, config, max_beats=128, n_rr=3,
                          edge=edge.resolve_edge_config(edge.EdgeConfig(), config, "cinc2017"))
    tp = fn = fp = 0
    for name in RECORDS:
        signal, fs, _ = read_lead(Path(cinc_dir) / name)
        for sign in (1.0, -1.0):
            python = np.rint(signal_lib.find_rpeaks(sign * signal, fs, config) * config.target_fs / fs).astype(np.int64)
            x = signal_lib.resample(sign * signal, fs, config.target_fs).astype(np.float32)
            for start, length, peaks in _graph_peaks(graph, x, int(30 * config.target_fs)):
                lo, hi = start + config.r_offset, start + length - (config.beat_len - config.r_offset)
                m = signal_lib.match_peaks(python[(python >= lo) & (python < hi)], peaks[(peaks >= lo) & (peaks < hi)],
                                           int(0.05 * config.target_fs))
                tp, fn, fp = tp + m["tp"], fn + m["fn"], fp + m["fp"]
    assert tp > 500
    assert tp / (tp + fn) >= AGREEMENT_FLOOR and tp / (tp + fp) >= AGREEMENT_FLOOR


def test_ported_detector_options_are_accepted():
    """The graph runs rpeak_mindelay_keep "prominent_negative_last" and rpeak_minimum_gap_s (issue 21's port); the
    gap's other options stay refused (test above)."""
    edge.check_config(SignalConfig(rpeak_mindelay_keep="prominent_negative_last"), edge.EdgeConfig())
    edge.check_config(SignalConfig(rpeak_mindelay_keep="prominent_negative_last", rpeak_minimum_gap_s=0.25),
                      edge.EdgeConfig())
    edge.check_config(SignalConfig(rpeak_rescue_deep=0.2), edge.EdgeConfig())
    assert "rpeak_minimum_gap_s" not in edge.PYTHON_ONLY_RPEAK_OPTIONS
    assert "rpeak_rescue_deep" not in edge.PYTHON_ONLY_RPEAK_OPTIONS
    edge.check_config(SignalConfig(rpeak_guard_noise=1.7, rpeak_guard_constants={"noise_correlation": 0.8}),
                      edge.EdgeConfig())
    assert "rpeak_guard_noise" not in edge.PYTHON_ONLY_RPEAK_OPTIONS
    edge.check_config(SignalConfig(rpeak_guard_post_wide=0.4), edge.EdgeConfig())
    assert "rpeak_guard_post_wide" not in edge.PYTHON_ONLY_RPEAK_OPTIONS


@pytest.mark.parametrize("deep", [0.15, 0.2])
def test_in_graph_deep_rescue_keeps_the_peaks_guard_keep_keeps(fixtures_dir, deep):
    """rpeak_rescue_deep (the first of s37_first's guard steps) in the graph: on bigeminy built from MIT-BIH 208 with the
    small beats at 0.2 of their QRS (30 s at target_fs, the unguarded detector's peaks), EndToEnd.guard keeps what
    signal.guard_keep keeps with the deep rescue, and the rescue decides something there."""
    from ecgsl_keras.bench import rhythms
    from ecgsl_keras.bench.rpeaks import read_mitdb

    config = SignalConfig(rpeak_rescue_deep=deep)
    signal, fs, beats, _, _, symbols = read_mitdb(fixtures_dir / "mitdb", "208", with_symbols=True)
    x, _ = rhythms.bigeminy(signal, fs, beats, symbols, seed=208, gain=0.2)
    decided = 0
    for start in (0, int(30 * fs), int(60 * fs)):
        cleaned, peaks, (amplitude, sharpness, width) = unguarded_window(x[start:start + int(30 * fs)], fs, config)
        expected = peaks[signal_lib.guard_keep(peaks, amplitude, sharpness, width, config.rpeak_guard_amplitude,
                                               deep=deep)]
        decided += expected.size - peaks[signal_lib.guard_keep(peaks, amplitude, sharpness, width,
                                                               config.rpeak_guard_amplitude)].size
        np.testing.assert_array_equal(graph_guard_keeps(config, cleaned, peaks), expected)
    assert decided > 5


def _noise_check_matches(graph, config, x, peaks):
    """EndToEnd.noise_check against rpeak_guard.small_noisy on the same peaks and cleaned window (float32, as the
    graph holds it); returns how many peaks the Python step drops."""
    assert 3 <= peaks.size <= 128
    fs_t = config.target_fs
    cleaned = signal_lib.clean(x, fs_t, config.clean_method).astype(np.float32)
    flagged = rpeak_guard.small_noisy(peaks, cleaned.astype(np.float64), fs_t, float(config.rpeak_guard_noise),
                                      rpeak_guard.constants_for(config))
    pos = np.full(128, x.size - 1, np.int32)
    pos[: peaks.size] = peaks
    # the graph's window is graph.n samples: a shorter record is padded with its last sample, as numpy clips
    padded = np.pad(cleaned, (0, graph.n - cleaned.size), mode="edge")
    kept, ok = graph.noise_check(padded, pos, np.arange(128) < peaks.size)
    np.testing.assert_array_equal(kept.numpy()[ok.numpy()], peaks[~flagged])
    return int(flagged.sum())


@pytest.mark.parametrize("ratio, correlation, typical", [(1.1, 0.0, 200), (1.1, 0.8, 200), (1.7, 0.8, 200),
                                                         (1.1, 0.0, 7)])
def test_in_graph_noise_check_drops_the_peaks_small_noisy_drops(fixtures_dir, ratio, correlation, typical):
    """rpeak_guard_noise (a step of s37_first's guard) in the graph: 30 s of MIT-BIH 119 at target_fs with 0.5 s noise
    bursts put midway between every fifth pair of beats, the detector's peaks and the burst centres; EndToEnd.noise_check
    keeps what rpeak_guard.small_noisy keeps (with and without the noise_correlation exception; the typical count from
    all peaks or, noise_typical_beats 7, from 7 spread over the window), and drops bursts."""
    from ecgsl_keras.bench.rpeaks import read_mitdb

    config = SignalConfig(rpeak_guard_noise=ratio, rpeak_guard_constants={"noise_correlation": correlation,
                                                                          "noise_typical_beats": typical})
    graph = edge.EndToEnd(None, config, max_beats=128, n_rr=3)
    signal, fs, *_ = read_mitdb(fixtures_dir / "mitdb", "119")
    fs_t = config.target_fs
    dropped = 0
    for start in (0, 30):
        x = signal_lib.resample(signal[int(start * fs):int((start + 30) * fs)], fs, fs_t)
        peaks = signal_lib.find_rpeaks(x, fs_t, SignalConfig())
        rng = np.random.default_rng(start)
        bursts = (peaks[2:-2:5] + peaks[3:-1:5]) // 2
        for mid in bursts:
            x[mid - 25:mid + 25] += 0.06 * rng.standard_normal(50)
        dropped += _noise_check_matches(graph, config, x, np.union1d(peaks, bursts))
    assert dropped >= (2 if ratio > 1.5 else 6)


@pytest.mark.slow   # 24 windows through the graph's noise check, two settings, and its post-wide check (eager): ~8 s
def test_in_graph_noise_and_post_wide_checks_match_python_on_fixture_records(cinc_dir, fixtures_dir):
    """The same noise and post-wide-beat checks on the fixture records as they are (the embedded CinC sample, 30 s windows at target_fs;
    2 minutes of each MIT-BIH fixture), on the unguarded detector's peaks."""
    from ecgsl_keras.bench.rpeaks import read_mitdb

    windows = []
    for header in sorted(Path(cinc_dir).glob("*.hea")):
        signal, fs, _ = read_lead(Path(cinc_dir) / header.stem)
        windows.append((signal, fs))
    for rid in ("119", "208"):
        signal, fs, *_ = read_mitdb(fixtures_dir / "mitdb", rid)
        windows += [(signal[int(s * fs):int((s + 30) * fs)], fs) for s in (0, 30, 60, 90)]
    dropped, wide = 0, 0
    for correlation in (0.0, 0.8):
        config = SignalConfig(rpeak_guard_noise=1.2, rpeak_guard_constants={"noise_correlation": correlation})
        graph = edge.EndToEnd(None, config, max_beats=128, n_rr=3)
        fs_t = config.target_fs
        for signal, fs in windows:
            x = signal_lib.resample(signal, fs, fs_t)[: int(30 * fs_t)]
            peaks = signal_lib.find_rpeaks(x, fs_t, dataclasses.replace(config, rpeak_guard_amplitude=0.0,
                                                                         rpeak_searchback=0.0, rpeak_guard_noise=0.0))
            if peaks.size < 3:
                continue
            dropped += _noise_check_matches(graph, config, x, peaks)
            if correlation == 0.0:      # the post-wide-beat check on the same peaks (s37_first's 0.4, a lag of 0.4 s)
                sc = SignalConfig(rpeak_guard_post_wide=0.4, rpeak_guard_constants={"post_wide_lag_s": 0.4})
                cleaned = signal_lib.clean(x, fs_t, sc.clean_method).astype(np.float32)
                flagged = rpeak_guard.after_wide_beat(peaks, cleaned.astype(np.float64), fs_t, 0.4,
                                                      rpeak_guard.constants_for(sc))
                pos = np.full(128, x.size - 1, np.int32)
                pos[: peaks.size] = peaks
                kept, ok = edge.EndToEnd(None, sc, max_beats=128, n_rr=3).post_wide_check(
                    np.pad(cleaned, (0, graph.n - cleaned.size), mode="edge"), pos, np.arange(128) < peaks.size)
                np.testing.assert_array_equal(kept.numpy()[ok.numpy()], peaks[~flagged])
                wide += int(flagged.sum())
    assert dropped > 0 and wide > 0


@pytest.mark.parametrize("ratio, lag, width, minimum", [(0.4, 0.3, 1.5, 2), (0.8, 0.35, 1.5, 5), (0.8, 0.35, 1.2, 5)])
def test_in_graph_post_wide_check_drops_the_peaks_after_wide_beat_drops(fixtures_dir, ratio, lag, width, minimum):
    """rpeak_guard_post_wide (a step of s37_first's guard) in the graph: 30 s windows of MIT-BIH 208 (many PVCs) at
    target_fs, the detector's peaks and a peak put 0.25 s after every annotated PVC (its T wave);
    EndToEnd.post_wide_check keeps what rpeak_guard.after_wide_beat keeps (s37_first's 0.4 and looser settings), and
    drops some."""
    from ecgsl_keras.bench.rpeaks import read_mitdb

    config = SignalConfig(rpeak_guard_post_wide=ratio, rpeak_guard_constants={"post_wide_lag_s": lag,
                                                                              "post_wide_width": width})
    graph = edge.EndToEnd(None, config, max_beats=128, n_rr=3)
    signal, fs, beats, _, _, symbols = read_mitdb(fixtures_dir / "mitdb", "208", with_symbols=True)
    fs_t = config.target_fs
    dropped = 0
    for start in (0, 30, 60):
        x = signal_lib.resample(signal[int(start * fs):int((start + 30) * fs)], fs, fs_t)
        cleaned = signal_lib.clean(x, fs_t, config.clean_method).astype(np.float32)
        peaks = signal_lib.find_rpeaks(x, fs_t, SignalConfig(), cleaned=cleaned)
        pvc = np.asarray(beats)[(np.asarray(symbols) == "V") & (np.asarray(beats) >= start * fs)
                                & (np.asarray(beats) < (start + 29) * fs)]
        peaks = np.union1d(peaks, np.rint((pvc - start * fs) * fs_t / fs + 0.25 * fs_t).astype(np.int64))
        assert 3 <= peaks.size <= 128
        flagged = rpeak_guard.after_wide_beat(peaks, cleaned.astype(np.float64), fs_t, ratio,
                                              rpeak_guard.constants_for(config))
        pos = np.full(128, x.size - 1, np.int32)
        pos[: peaks.size] = peaks
        kept, ok = graph.post_wide_check(np.pad(cleaned, (0, graph.n - cleaned.size), mode="edge"), pos,
                                         np.arange(128) < peaks.size)
        np.testing.assert_array_equal(kept.numpy()[ok.numpy()], peaks[~flagged])
        dropped += int(flagged.sum())
    assert dropped >= minimum


def test_arange_is_computed_at_run_time_not_stored_in_the_file():
    """Issue 21: ``_arange`` gives 0..n-1 whatever the values (NaN, inf) and the converter cannot fold it into a
    constant of n int32s (12,000 bytes at 3000 samples in the cinc2017-edge file before the change)."""
    import tensorflow as tf
    from tensorflow.lite.python import schema_py_generated as schema

    x = np.array([np.nan, np.inf, -np.inf, 0.0, 1.5] * 600, np.float32)
    np.testing.assert_array_equal(edge._arange(tf.constant(x)).numpy(), np.arange(x.size))
    fn = tf.function(lambda v: tf.where(edge._arange(v) < 7, v, 0.0),
                     input_signature=[tf.TensorSpec((x.size,), tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    model = schema.ModelT.InitFromPackedBuf(bytearray(converter.convert()), 0)
    assert max(len(b.data) if b.data is not None else 0 for b in model.buffers) < 4 * x.size

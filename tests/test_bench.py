"""ecgsl_keras.bench: peak matching, the dispatcher, rpeaks on the MIT-BIH fixture, segment on the CinC sample."""
import json

import numpy as np
import pytest

from ecgsl_keras.bench import __main__ as bench_main
from ecgsl_keras.bench import format_table, to_json_line
from ecgsl_keras.bench.rpeaks import in_episodes
from ecgsl_keras.data.signal import match_peaks


def _run(capsys, argv):
    code = bench_main.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --------------------------------------------------------------------------------------------
# matching


def test_match_peaks_one_to_one_within_tolerance():
    reference = [100, 200, 300, 400]
    detected = [102, 195, 205, 330, 900]
    m = match_peaks(reference, detected, tolerance=10)
    # 195 and 205 both lie within 10 of 200: only one of them may count
    assert (m["tp"], m["fn"], m["fp"]) == (2, 2, 3)
    np.testing.assert_array_equal(m["matched"], [[0, 0], [1, 1]])   # 195 is closer than 205 (5 vs 5: first)
    # tolerance is inclusive
    assert match_peaks([100], [110], tolerance=10)["tp"] == 1
    assert match_peaks([100], [111], tolerance=10)["tp"] == 0


def test_match_peaks_contested_detection_goes_to_the_closest_reference():
    # one detection between two references: it matches the nearer one; the other is missed
    m = match_peaks([100, 130], [125], tolerance=40)
    assert (m["tp"], m["fn"], m["fp"]) == (1, 1, 0)
    np.testing.assert_array_equal(m["matched"], [[1, 0]])
    # greedy closest-first still finds the full matching when each side has its own partner
    m = match_peaks([100, 130], [112, 135], tolerance=40)
    np.testing.assert_array_equal(m["matched"], [[0, 0], [1, 1]])


def test_match_peaks_empty_and_unsorted_inputs():
    assert (lambda m: (m["tp"], m["fn"], m["fp"]))(match_peaks([], [5, 6], 3)) == (0, 0, 2)
    assert (lambda m: (m["tp"], m["fn"], m["fp"]))(match_peaks([5, 6], [], 3)) == (0, 2, 0)
    m = match_peaks([300, 100, 200], [201, 99, 299], 2)
    assert m["tp"] == 3 and m["fp"] == 0


def test_match_peaks_agrees_with_wfdb_on_a_random_beat_train():
    wfdb_processing = pytest.importorskip("wfdb.processing")
    rng = np.random.default_rng(0)
    reference = np.cumsum(rng.integers(200, 400, 300))
    keep = rng.random(reference.size) > 0.05                       # 5% missed
    detected = reference[keep] + rng.integers(-20, 21, keep.sum())  # jitter inside the tolerance
    extra = rng.integers(reference[0], reference[-1], 15)          # spurious detections
    detected = np.sort(np.concatenate([detected, extra]))
    ours = match_peaks(reference, detected, tolerance=54)
    theirs = wfdb_processing.compare_annotations(reference, detected, 55)   # wfdb: |diff| < window
    assert (ours["tp"], ours["fn"], ours["fp"]) == (theirs.tp, theirs.fn, theirs.fp)


def test_in_episodes():
    mask = in_episodes([5, 10, 15, 20, 31], np.array([[10, 15], [30, 40]]))
    np.testing.assert_array_equal(mask, [False, True, True, False, True])
    assert not in_episodes([1, 2], np.zeros((0, 2))).any()


# --------------------------------------------------------------------------------------------
# dispatcher


def test_dispatcher_reports_a_missing_subcommand_module(capsys, monkeypatch):
    monkeypatch.setitem(bench_main.SUBCOMMANDS, "nosuchbench", "a benchmark nobody wrote")
    code, out, err = _run(capsys, ["nosuchbench"])
    assert code == 2 and out == ""
    assert "nosuchbench" in err and "not available" in err


def test_dispatcher_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as info:
        bench_main.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in ("rpeaks", "segment", "pipeline", "inference"):
        assert name in out


def test_json_line_and_table_of_numpy_values():
    result = {"a": np.float32(0.5), "n": np.int64(3), "nan": float("nan"), "arr": np.arange(3),
              "per_record": {"101": {"TP": np.int64(5), "Se": 0.99}}}
    line = to_json_line(result)
    assert "\n" not in line
    assert json.loads(line) == {"a": 0.5, "n": 3, "nan": None, "arr": [0, 1, 2],
                                "per_record": {"101": {"TP": 5, "Se": 0.99}}}
    table = format_table(result)
    assert "per_record" in table and "101" in table and "0.99" in table


# --------------------------------------------------------------------------------------------
# the benchmarks on real data shipped with the repo


def test_rpeaks_bench_on_mitdb_fixture(capsys, fixtures_dir):
    data_dir = fixtures_dir / "mitdb"
    code, out, err = _run(capsys, ["rpeaks", "--data-dir", str(data_dir), "--records", "208", "119"])
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    for key in ("sensitivity", "positive_predictivity", "per_record", "records_per_second", "method",
                "tolerance_ms", "TP", "FN", "FP", "clean_method", "vf_episodes_excluded"):
        assert key in result
    assert result["sensitivity"] > 0.98 and result["positive_predictivity"] > 0.98
    assert set(result["per_record"]) == {"208", "119"}
    for figures in result["per_record"].values():
        assert {"TP", "FN", "FP", "Se", "+P"} <= set(figures)
        assert figures["TP"] + figures["FN"] > 300          # 5 minutes of beats
    assert result["records_per_second"] > 0
    assert result["TP"] == sum(r["TP"] for r in result["per_record"].values())
    assert "sensitivity" in err                              # the readable table went to stderr


def test_segment_bench_on_cinc_sample(capsys, cinc_dir):
    code, out, err = _run(capsys, ["segment", "--dataset", "cinc2017", "--data-dir", str(cinc_dir),
                                   "--limit", "6", "--no-progress", "--repeats", "3", "--min-seconds", "0.2"])
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["n_records"] == 6
    assert result["records_segmented"] + result["records_rejected"] == 6
    assert result["beats"] > 6 * 5
    assert result["records_per_second"] > 0 and result["beats_per_second"] > result["records_per_second"]
    assert {"read", "clean", "detect", "segment"} <= set(result["stage_seconds"])
    timing = result["records_per_second_spread"]
    assert timing["repeats"] == 3 and len(timing["values"]) == 3
    assert timing["min"] <= result["records_per_second"] == timing["median"] <= timing["max"]
    assert all(n >= 1 for n in result["passes_per_repeat"])


def test_rpeaks_bench_missing_data_dir_is_a_clear_error(capsys, tmp_path):
    code, out, err = _run(capsys, ["rpeaks", "--data-dir", str(tmp_path / "nowhere")])
    assert code == 2 and out == ""
    assert "nowhere" in err and "not found" in err

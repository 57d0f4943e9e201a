"""Benchmarks on a noisy machine (issue 12): every timed figure is the median of repeats of at least a
minimum time, reported with its spread."""
import json

import pytest

from ecgsl_keras.bench import __main__ as bench_main
from ecgsl_keras.bench import repeat_rates, spread


def test_repeat_rates_times_each_repeat_at_least_min_seconds():
    calls = []

    def step():
        calls.append(1)
        return {"items": 2}

    out = repeat_rates(step, repeats=3, min_seconds=0.02, min_steps=4)
    rates = out["items_per_second"]
    assert rates["repeats"] == 3 and len(out["seconds_per_repeat"]) == 3
    assert all(s >= 0.02 for s in out["seconds_per_repeat"]) and all(n >= 4 for n in out["steps_per_repeat"])
    assert sum(out["steps_per_repeat"]) == len(calls)
    assert rates["min"] <= rates["median"] <= rates["max"]
    s = spread([1.0, 2.0, 4.0])
    assert s["median"] == 2.0 and s["spread_percent"] == 150.0 and s["iqr"] == 1.5


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_pipeline_bench_reports_medians_and_spread(capsys, cinc_sample_tfrecords):
    code = bench_main.main(["pipeline", "--data", str(cinc_sample_tfrecords), "--batch-size", "4", "--batches", "2",
                            "--raw-batches", "1", "--repeats", "2", "--min-seconds", "0.05"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    fast = result["detail"]["tfrecord"]["examples_per_second"]
    slow = result["detail"]["on_the_fly"]["examples_per_second"]
    assert fast["repeats"] == slow["repeats"] == 2
    assert result["tfrecord_examples_per_second"] == round(fast["median"], 1)
    assert result["speedup_range"][0] <= result["speedup"] <= result["speedup_range"][1]
    assert all(n >= 2 for n in result["detail"]["tfrecord"]["steps_per_repeat"])

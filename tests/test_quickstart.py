"""The quickstart: prepare -> autoencoder -> masked -> finetune -> evaluate on the embedded sample."""
import json

import pytest

from ecgsl_keras.training import quickstart

from ecgsl_keras.store import runs
from ecgsl_keras.cli import quickstart as quickstart_cli
from helpers import assert_metrics_match_confusion, tiny_experiment_config


# one xdist unit with the suite's other long single runs (--dist loadgroup sends units of several tests before
# single tests): they start early instead of leaving one worker busy with one of them at the end
@pytest.mark.xdist_group("long_runs")
@pytest.mark.slow
def test_quickstart_runs_the_whole_method(tmp_path, capsys):
    run_dir = tmp_path / "qs"
    # the tiny model: the method's chain of stages is tested, not the architecture's cost
    config = tiny_experiment_config()
    config.save(tmp_path / "tiny.json")
    assert quickstart_cli.main(["--run-dir", str(run_dir), "--epochs", "1", "--verbose", "0",
                                "--config", str(tmp_path / "tiny.json")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])                      # last line: one JSON object
    table = "\n".join(out[:-1])
    assert "macro F1" in table and "challenge F1" in table
    assert summary["records"] == {"train": 51, "validation": 13} and summary["skipped"] == 0
    assert summary["validation"]["n"] == 13
    f1 = assert_metrics_match_confusion(summary["validation"], ["N", "A", "O", "~"])
    assert summary["macro_f1"] == pytest.approx(f1.mean()) and summary["challenge_f1"] == pytest.approx(f1[:3].mean())
    assert json.loads((run_dir / "summary.json").read_text()) == summary
    previous = None
    for stage in ("autoencoder", "masked", "finetune"):
        info = json.loads((run_dir / stage / runs.CONFIG_NAME).read_text())
        assert info["stage"] == stage and info["status"] == runs.STATUS_FINISHED
        assert info["init_from"] == (str((run_dir / previous).resolve()) if previous else None)
        assert (run_dir / stage / runs.MODEL_NAME).is_file()
        assert summary["stages"][stage]["epochs"] == 1
        assert type(config.model).from_dict(info["experiment_config"]["model"]) == config.model     # --config reached every stage
        previous = stage
    metrics = json.loads((run_dir / "finetune" / runs.METRICS_NAME).read_text())
    assert metrics["macro_f1"] == pytest.approx(summary["macro_f1"])
    assert set(summary["seconds"]) >= {"prepare", "autoencoder", "masked", "finetune", "evaluate", "total"}


def test_an_existing_run_dir_is_never_overwritten_silently(tmp_path):
    assert quickstart.choose_run_dir(tmp_path / "new", overwrite=False) == tmp_path / "new"
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "summary.json").write_text("{}")
    fresh = quickstart.choose_run_dir(tmp_path / "old", overwrite=False)
    assert fresh.parent == tmp_path / "old" and not fresh.exists()
    assert (tmp_path / "old" / "summary.json").read_text() == "{}"
    assert quickstart.choose_run_dir(tmp_path / "old", overwrite=True) == tmp_path / "old"
    assert not any((tmp_path / "old").iterdir())


def test_sample_is_shipped_with_the_package():
    sample = quickstart.sample_dir()
    assert (sample / "REFERENCE.csv").is_file()
    assert len(list(sample.glob("*.mat"))) == 64

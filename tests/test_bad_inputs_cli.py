"""Bad inputs through the commands, from one table: each gets ``error: <file>: <problem>`` on stderr and exit
status 2, never a traceback, and nothing already written is lost (docs/bad-inputs.md lists the same cases).

Each row: a name, a function that damages a copy of the fixtures and returns the command's arguments, the
file the message must name and words of the problem. The model is an untrained classifier saved like a run.
"""
import errno
import json
import shutil
import zipfile

import pytest

from ecgsl_keras import tasks
from ecgsl_keras.cli import evaluate as evaluate_cli
from ecgsl_keras.cli import predict as predict_cli
from ecgsl_keras.cli import prepare as prepare_cli
from ecgsl_keras.cli import runner
from helpers import untrained_cinc2017_run

RECORD = "A00205"
COMMANDS = {"predict": predict_cli.main, "prepare": prepare_cli.main, "evaluate": evaluate_cli.main}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return untrained_cinc2017_run(tmp_path_factory.mktemp("run"))


@pytest.fixture()
def case(tmp_path, run_dir, cinc_dir):
    """A writable copy of six CinC records and of the run folder."""
    data = tmp_path / "cinc"
    data.mkdir()
    lines = (cinc_dir / "REFERENCE.csv").read_text().splitlines()[:6]
    assert lines[0].startswith(RECORD)
    for line in lines:
        for ext in (".mat", ".hea"):
            shutil.copyfile(cinc_dir / f"{line.split(',')[0]}{ext}", data / f"{line.split(',')[0]}{ext}")
    (data / "REFERENCE.csv").write_text("\n".join(lines) + "\n")
    run = shutil.copytree(run_dir, tmp_path / "run")
    return {"data": data, "run": run, "model": run / "model.keras", "record": data / RECORD, "tmp": tmp_path}


def _predict(c):
    return ["predict", "--model", str(c["model"]), "--record", str(c["record"])]


def _edit(path, old, new):
    path.write_text(path.read_text().replace(old, new))


def _rezip(path, rewrite):
    """Rewrite the members of a .keras archive through ``rewrite(name, bytes) -> bytes``."""
    with zipfile.ZipFile(path) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            archive.writestr(name, rewrite(name, data))


def keras_bad_crc(c):
    data = bytearray(c["model"].read_bytes())
    with zipfile.ZipFile(c["model"]) as archive:
        info = max(archive.infolist(), key=lambda i: i.compress_size)
    data[info.header_offset + 30 + len(info.filename) + info.compress_size // 2] ^= 0xFF   # inside its data
    c["model"].write_bytes(bytes(data))
    return _predict(c), c["model"], "CRC"


def keras_truncated(c):
    c["model"].write_bytes(c["model"].read_bytes()[:4000])
    return _predict(c), c["model"], "not a complete .keras archive"


def keras_config_names_os_system(c):
    def rewrite(name, data):
        if name != "config.json":
            return data
        return json.dumps({"module": "os", "class_name": "system", "config": {"command": "touch pwned"},
                           "registered_name": "system"}).encode()
    _rezip(c["model"], rewrite)
    return _predict(c), c["model"], "cannot load the Keras model"


def header_rate_minus_one(c):
    _edit(c["data"] / f"{RECORD}.hea", f"{RECORD} 1 300 ", f"{RECORD} 1 -1 ")
    return _predict(c), c["data"] / f"{RECORD}.hea", "sampling frequency '-1'"


def header_rate_1e9(c):
    _edit(c["data"] / f"{RECORD}.hea", f"{RECORD} 1 300 ", f"{RECORD} 1 1e9 ")
    return _predict(c), c["data"] / f"{RECORD}.hea", "sampling frequency '1e9'"


def header_format_8_on_16_bit_file(c):
    _edit(c["data"] / f"{RECORD}.hea", " 16+24 ", " 8+24 ")
    return _predict(c), c["data"] / f"{RECORD}.mat", "does not match the file"


def truncated_mat(c):
    path = c["data"] / f"{RECORD}.mat"
    path.write_bytes(path.read_bytes()[:5000])
    return _predict(c), path, "bytes"


def empty_reference(c):
    (c["data"] / "REFERENCE.csv").write_text("")
    return (["prepare", "--dataset", "cinc2017", "--data-dir", str(c["data"]), "--out", str(c["tmp"] / "out"),
             "--no-progress"], c["data"] / "REFERENCE.csv", "lists no record")


def latin1_reference(c):
    (c["data"] / "REFERENCE.csv").write_bytes("A00205,N\nA00386,N # Überprüft\n".encode("latin-1"))
    return (["prepare", "--dataset", "cinc2017", "--data-dir", str(c["data"]), "--out", str(c["tmp"] / "out"),
             "--no-progress"], c["data"] / "REFERENCE.csv", "not UTF-8")


def savedmodel_that_writes_a_file(c):
    from test_trust import _write_file_model

    folder = c["tmp"] / "evil"
    _write_file_model(folder, c["tmp"] / "written.txt")
    return (["predict", "--model", str(folder), "--record", str(c["record"])], folder, "WriteFile")


CASES = [keras_bad_crc, keras_truncated, keras_config_names_os_system, header_rate_minus_one, header_rate_1e9,
         header_format_8_on_16_bit_file, truncated_mat, empty_reference, latin1_reference,
         savedmodel_that_writes_a_file]


@pytest.mark.parametrize("damage", CASES, ids=[f.__name__ for f in CASES])
def test_bad_input_gives_error_naming_the_file(damage, case, capsys):
    argv, named, problem = damage(case)
    status = COMMANDS[argv[0]](argv[1:])
    err = capsys.readouterr().err
    assert status == runner.USER_ERROR_STATUS, err
    assert "Traceback" not in err
    line = next(row for row in err.splitlines() if row.startswith("error: "))
    assert line.startswith(f"error: {named}: ") and problem in line, line
    assert not (case["tmp"] / "written.txt").exists() and not (case["tmp"] / "out").exists()


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_failed_plot_prints_the_prediction_then_fails(case, capsys, monkeypatch):
    import matplotlib.figure

    plot = case["tmp"] / "plots" / "record.png"
    plot.parent.mkdir()
    plot.write_bytes(b"old picture")
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", _no_space)
    status = predict_cli.main(_predict(case)[1:] + ["--plot", str(plot)])
    out, err = capsys.readouterr()
    result = json.loads(out.strip().splitlines()[-1])
    assert status == 2 and result["label"] in tasks.CINC2017.label_names and "plot" not in result
    assert f"error: {plot}: cannot write (No space left on device)" in err and "Traceback" not in err
    assert plot.read_bytes() == b"old picture" and sorted(p.name for p in plot.parent.iterdir()) == ["record.png"]


def test_file_system_refusals_become_errors_and_bugs_keep_their_traceback(capsys):
    def full_disk(args, parser):
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/x/model.keras")

    assert runner.run(lambda: runner.make_parser("x", ""), full_disk, [], models=False) == 2
    assert "error: /runs/x/model.keras: No space left on device" in capsys.readouterr().err

    def bug(args, parser):
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        runner.run(lambda: runner.make_parser("x", ""), bug, [], models=False)


@pytest.fixture()
def prepared_copy(tmp_path, cinc_sample_tfrecords):
    return shutil.copytree(cinc_sample_tfrecords, tmp_path / "data")


def test_evaluate_on_a_same_size_corrupt_shard_names_the_data(prepared_copy, run_dir, capsys):
    shard = next(prepared_copy.glob("*-validation-*.tfrecord"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF   # same size: only the record's CRC can tell
    shard.write_bytes(bytes(data))
    status = evaluate_cli.main(["--model", str(run_dir / "model.keras"), "--data", str(prepared_copy)])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert f"error: {prepared_copy}: a TFRecord file is corrupt" in err and "tfrecords_tools verify" in err


@pytest.mark.slow
def test_evaluate_prints_the_metrics_when_its_plots_cannot_be_written(prepared_copy, run_dir, capsys, monkeypatch):
    import matplotlib.figure

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", _no_space)
    plots = prepared_copy.parent / "plots"
    status = evaluate_cli.main(["--model", str(run_dir / "model.keras"), "--data", str(prepared_copy),
                                "--plots", str(plots)])
    out, err = capsys.readouterr()
    result = json.loads(out.strip().splitlines()[-1])
    assert status == 2 and 0.0 <= result["macro_f1"] <= 1.0 and "cannot write" in result["plot_error"]
    assert f"error: {plots / 'confusion_matrix.png'}: cannot write (No space left on device)" in err
    assert not plots.exists() or not list(plots.iterdir())

"""The ``ecgsl`` command (issue 17): ``--help`` of every command starts without TensorFlow or Keras, usage and
user errors end with exit status 2 and ``error: ...`` without a traceback, and every old
``python -m ecgsl_keras.<command>`` still answers ``--help``. Each check runs in a child process, as a user
would start it (``python -m ecgsl_keras.cli`` is ``ecgsl``)."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ecgsl_keras.cli.main import COMMANDS

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("tensorflow", "keras")
OLD_MODULES = ("train", "prepare", "evaluate", "predict", "export", "explain", "plot", "tune", "quickstart",
               "ensemble", "pretrained", "baselines", "bench")


def _env():
    env = {k: v for k, v in os.environ.items() if k != "ECGSL_KERAS_NO_REGISTER"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def _python(args, cwd, timeout=120):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=_env(), cwd=cwd,
                          timeout=timeout)


# Runs ``python -m <module> <argv>`` in this interpreter (runpy, as -m does) for each call, and reports the
# exit status and whether TensorFlow or Keras got imported. sys.argv/orig_argv look like ``python -m``'s.
HELP_RUNNER = textwrap.dedent("""
    import json, runpy, sys
    calls = json.loads(sys.argv[1])
    results = []
    for module, argv in calls:
        sys.argv = ["-m"] + argv
        sys.orig_argv = [sys.executable, "-m", module] + argv
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        heavy = sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")})
        results.append({"module": module, "argv": argv, "code": code, "heavy": heavy})
    print(json.dumps(results))
""")


def test_ecgsl_help_imports_no_tensorflow_nor_keras(tmp_path):
    proc = _python(["-X", "importtime", "-m", "ecgsl_keras.cli", "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in COMMANDS:
        assert name in proc.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "ecgsl_keras" in imported
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_every_command_help_exits_0_without_tensorflow(tmp_path):
    """``ecgsl <command> --help`` for every command, each in a fresh interpreter (one child per command would
    take long: one child runs them in turn, and a command that imported TensorFlow is named)."""
    calls = [("ecgsl_keras.cli", [name, "--help"]) for name in COMMANDS]
    proc = _python(["-c", HELP_RUNNER, json.dumps(calls)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [r["argv"][0] for r in results] == list(COMMANDS)
    for result in results:
        assert result["code"] in (0, None), result
        assert result["heavy"] == [], f"ecgsl {result['argv'][0]} --help imported {result['heavy']}"


@pytest.mark.parametrize("command", ["train", "prepare", "bench"])
def test_command_help_in_its_own_process_imports_no_tensorflow(tmp_path, command):
    code = ("import runpy, sys\n"
            f"sys.argv = ['ecgsl', {command!r}, '--help']\n"
            "try:\n"
            "    runpy.run_module('ecgsl_keras.cli', run_name='__main__')\n"
            "except SystemExit as exit_:\n"
            "    assert exit_.code in (0, None), exit_.code\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}))\n")
    proc = _python(["-c", code], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"ecgsl {command}" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_every_old_python_m_command_answers_help(tmp_path):
    calls = [(f"ecgsl_keras.{name}", ["--help"]) for name in OLD_MODULES]
    proc = _python(["-c", HELP_RUNNER, json.dumps(calls)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(results) == len(OLD_MODULES)
    for result in results:
        assert result["code"] in (0, None), result
        assert result["heavy"] == [], result
    assert proc.stdout.count("usage: ecgsl ") >= len(OLD_MODULES)


def test_python_m_train_help_in_a_real_child_imports_no_tensorflow(tmp_path):
    proc = _python(["-X", "importtime", "-m", "ecgsl_keras.train", "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("usage: ecgsl train")
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert not imported & set(HEAVY)


def test_unknown_command_and_no_command_exit_2(tmp_path):
    proc = _python(["-m", "ecgsl_keras.cli", "no-such-command"], tmp_path)
    assert proc.returncode == 2
    assert "error: unknown command 'no-such-command'" in proc.stderr and "Traceback" not in proc.stderr
    assert _python(["-m", "ecgsl_keras.cli"], tmp_path).returncode == 2


@pytest.mark.slow
def test_user_error_is_one_line_and_exit_2(tmp_path):
    """evaluate on a missing model: ``error: ...`` on stderr, exit 2, no traceback, nothing on stdout."""
    missing = tmp_path / "missing"
    proc = _python(["-m", "ecgsl_keras.cli", "evaluate", "--model", str(missing / "model.keras"),
                    "--data", str(missing)], tmp_path, timeout=240)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert any(line.startswith("error: ") and str(missing) in line for line in proc.stderr.splitlines())
    assert proc.stdout.strip() == ""


def test_other_exceptions_keep_their_traceback(capsys):
    from ecgsl_keras.cli import runner
    from ecgsl_keras.errors import ConfigError
    from tfrecords_tools import TFRecordsError

    def parser():
        return runner.make_parser("demo", "a demo")

    def raising(error):
        def body(args, _):
            raise error
        return body

    assert runner.run(parser, raising(ConfigError("bad value")), [], models=False) == 2
    assert runner.run(parser, raising(TFRecordsError("/data", "no shards")), [], models=False) == 2
    err = capsys.readouterr().err
    assert "error: bad value" in err and "error: /data: no shards" in err
    with pytest.raises(ValueError, match="a bug"):
        runner.run(parser, raising(ValueError("a bug")), [], models=False)


def test_result_line_is_json_with_numpy_values(capsys):
    import numpy as np

    from ecgsl_keras.cli import runner

    runner.print_result({"f1": np.float32(0.5), "n": np.int64(3), "path": Path("a/b"), "x": np.arange(2)})
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"f1": 0.5, "n": 3, "path": "a/b",
                                                                           "x": [0, 1]}


def test_parser_choices_match_the_library():
    """``ecgsl train``'s choices are the stage registry's names, and the parser offers exactly them."""
    from ecgsl_keras.cli import train as train_cli
    from ecgsl_keras.training import stages

    assert train_cli.STAGES is stages.STAGES and train_cli.MODELS is stages.MODELS
    stage_action = next(a for a in train_cli.build_parser()._actions if a.dest == "stage")
    assert tuple(stage_action.choices) == stages.STAGES == ("autoencoder", "masked", "finetune", "supervised", "hybrid")


def test_every_parser_is_named_ecgsl_command():
    import importlib

    for name, (module, _) in COMMANDS.items():
        mod = importlib.import_module(module)
        parser = mod.build_parser(None) if module.endswith("bench.__main__") else mod.build_parser()
        if isinstance(parser, tuple):
            parser = parser[0]
        assert parser.prog == f"ecgsl {name}", (module, parser.prog)
        assert parser.description and "the command line of" not in parser.description, (module, parser.description)


@pytest.mark.slow
def test_plain_import_still_registers_the_custom_objects(tmp_path):
    """Outside the command line, ``import ecgsl_keras`` registers the layers (``keras.models.load_model`` needs them)."""
    code = ("import sys, ecgsl_keras, keras\n"
            "print('ecgsl_keras.modeling' in sys.modules, "
            "keras.saving.get_registered_object('ecgsl>PositionalEncoding') is not None)\n")
    proc = _python(["-c", code], tmp_path, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "True True"

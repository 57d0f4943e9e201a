"""Every command line: ``--help`` and one bad call end without a traceback, and without TensorFlow's
C++ start-up noise (issue 12). One interpreter runs all of them (``main(argv)`` of each CLI module, as
``python -m`` does), so TensorFlow is imported once; a missing optional extra (LiteRT) is simulated
by blocking its import."""
import pytest
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# (module, bad arguments); every bad call must exit non-zero with a message on stderr.
CLIS = [
    ("ecgsl_keras.cli.prepare", ["--dataset", "cinc2017", "--data-dir", "{missing}", "--out", "{tmp}/prepared"]),
    ("ecgsl_keras.cli.train", ["--stage", "supervised", "--data", "{missing}", "--run-dir", "{tmp}/run"]),
    ("ecgsl_keras.cli.evaluate", ["--model", "{missing}/model.keras", "--data", "{missing}"]),
    ("ecgsl_keras.cli.export", ["--model", "{missing}/model.keras", "--out", "{tmp}/export"]),
    ("ecgsl_keras.cli.predict", ["--model", "{missing}/model.keras", "--record", "{missing}/A00001"]),
    ("ecgsl_keras.cli.quickstart", ["--data-dir", "{missing}", "--run-dir", "{tmp}/quick", "--epochs", "1"]),
    ("ecgsl_keras.cli.ensemble", ["--members", "{missing}/a", "{missing}/b", "--out", "{tmp}/ens.keras"]),
    ("ecgsl_keras.cli.baselines", ["features", "--data", "{missing}"]),
    ("ecgsl_keras.cli.presets", ["show", "no_such_preset"]),
    ("ecgsl_keras.bench.__main__", ["pipeline", "--data", "{missing}"]),
    ("tfrecords_tools.__main__", ["verify", "{missing}"]),
    ("ecgsl_keras.cli.explain", ["--model", "{missing}/model.keras", "--record", "{missing}/A00001", "--out", "{tmp}/ex"]),
    ("ecgsl_keras.cli.plot", ["history", "{missing}"]),
    ("ecgsl_keras.cli.tune", ["--data", "{missing}", "--stage", "supervised", "--max-trials", "1", "--out", "{tmp}/tune"]),
]

RUNNER = textwrap.dedent("""
    import importlib, json, sys, traceback
    calls = json.loads(sys.argv[1])
    sys.modules["ai_edge_litert"] = None          # LiteRT "not installed"
    for module, argv in calls:
        print(f"@@@ {module} {json.dumps(argv)}", file=sys.stderr, flush=True)
        try:
            rc = importlib.import_module(module).main(argv)
        except SystemExit as exit_:
            rc = exit_.code
        except BaseException:
            traceback.print_exc()
            rc = "exception"
        sys.stderr.flush()
        print(f"@@@ rc={rc}", file=sys.stderr, flush=True)
    import tensorflow as tf                      # a real op: device initialisation after the import
    print(int(tf.reduce_sum(tf.ones(3))), file=sys.stderr, flush=True)
""")

NOISE = ("Traceback", "E0000", "I0000", "W0000", "cuInit", "oneDNN", "cuda drivers", "absl::InitializeLog",
         "cpu_feature_guard", "rebuild TensorFlow")


@pytest.mark.slow
def test_every_cli_help_and_bad_call_without_traceback_or_tf_noise(tmp_path):
    missing = str(tmp_path / "does_not_exist")
    calls = []
    for module, bad in CLIS:
        calls.append((module, ["--help"]))
        calls.append((module, [a.format(missing=missing, tmp=tmp_path) for a in bad]))
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "ECGSL_TF_LOG_DEFAULT")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests")] + [env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(calls)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=240)
    stderr = proc.stderr
    assert proc.returncode == 0, stderr[-3000:]
    for word in NOISE:
        assert word not in stderr, f"{word!r} on stderr:\n{stderr[-4000:]}"
    blocks = stderr.split("@@@ ")[1:]
    assert len(blocks) == 2 * len(calls), stderr[-3000:]
    for (module, argv), header, footer in zip(calls, blocks[0::2], blocks[1::2]):
        rc = footer.split("\n", 1)[0]
        message = header.split("\n", 1)[1] if "\n" in header else ""
        if argv == ["--help"]:
            assert rc == "rc=0", (module, footer)
        else:
            assert rc not in ("rc=0", "rc=None", "rc=exception"), (module, argv, rc, message)
            assert message.strip(), f"{module}: a bad call printed nothing on stderr"
            assert "error" in message.lower() or "not" in message.lower(), (module, message)
    assert stderr.rstrip().endswith("3")


def test_noise_filter_keeps_real_errors_and_respects_the_users_level(monkeypatch):
    from tfrecords_tools import quiet

    noise = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1795564096.100921    8286 port.cc:153] oneDNN custom operations are on. You may see ...",
        "I0000 00:00:1795564096.101309    8286 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU...",
        "E0000 00:00:1795564111.264735    8800 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: ...",
        "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
        "appropriate compiler flags.",
    ]
    kept = [
        "E0000 00:00:1795564111.264735    8800 op_kernel.cc:1800] OP_REQUIRES failed at conv_ops.cc: INVALID_ARGUMENT",
        "UserWarning: something a Python library wants the user to see",
        "error: /data/x: folder does not exist",
    ]
    assert all(quiet.is_noise(line) for line in noise)
    assert not any(quiet.is_noise(line) for line in kept)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    monkeypatch.delenv(quiet.MARKER, raising=False)
    assert quiet.user_chose_level() and not quiet.install()
    monkeypatch.setenv(quiet.MARKER, "1")          # the value was set by install() in a parent process
    assert not quiet.user_chose_level()

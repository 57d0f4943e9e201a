"""ecgsl-keras: ECG Segment Learning (arXiv 2310.00818) in Keras 3 on TensorFlow.

``import ecgsl_keras`` registers every custom layer and model (package ``ecgsl``), so a saved
``.keras`` file loads with plain ``keras.models.load_model``.

That import loads Keras and TensorFlow (a few seconds). Processes that only run the numpy signal
chain (e.g. the spawned workers of ``ecgsl_keras.data.prepare``) can skip it: with the environment
variable ``ECGSL_KERAS_NO_REGISTER=1`` set (and in the ``ecgsl`` command), nothing is registered until
``ecgsl_keras.modeling`` is imported.

TensorFlow's C++ start-up noise (oneDNN notices, "Could not find cuda drivers", ``failed call to
cuInit`` on a machine without a GPU) is filtered by ``tfrecords_tools.quiet`` unless the user set
``TF_CPP_MIN_LOG_LEVEL``.
"""
import os as _os
import sys as _sys

from tfrecords_tools import quiet as _quiet

_quiet.install()  # before TensorFlow is imported: quiet C++ start-up logs unless TF_CPP_MIN_LOG_LEVEL is set

from ecgsl_keras._version import __version__  # noqa: E402,F401

# The command line registers lazily too: ``ecgsl --help`` must start without TensorFlow, and its runner
# (``ecgsl_keras.cli.runner``) imports ``ecgsl_keras.modeling`` after parsing, for the commands that need it.
# ``python -m ecgsl_keras.cli`` and ``python -m ecgsl_keras.<command>`` count as the command: while Python
# imports the package before running such a module, sys.argv[0] is "-m" and sys.orig_argv names the module.
_CLI_MODULES = ("ecgsl_keras.cli", "ecgsl_keras.bench", "ecgsl_keras.train", "ecgsl_keras.prepare",
                "ecgsl_keras.evaluate", "ecgsl_keras.predict", "ecgsl_keras.export", "ecgsl_keras.explain",
                "ecgsl_keras.plot", "ecgsl_keras.tune", "ecgsl_keras.quickstart", "ecgsl_keras.ensemble",
                "ecgsl_keras.pretrained", "ecgsl_keras.baselines")


def _run_as_cli() -> bool:
    argv0 = str(_sys.argv[0]) if _sys.argv else ""
    if _os.path.basename(argv0) in ("ecgsl", "ecgsl.exe"):
        return True
    if argv0 != "-m":
        return False
    orig = list(getattr(_sys, "orig_argv", ()))
    module = ""
    for i, arg in enumerate(orig[1:], 1):
        if arg == "-m":
            module = orig[i + 1] if i + 1 < len(orig) else ""
            break
        if arg.startswith("-m"):
            module = arg[2:]
            break
    return any(module == name or module.startswith(name + ".") for name in _CLI_MODULES)


_LAZY = _os.environ.get("ECGSL_KERAS_NO_REGISTER", "") == "1" or _run_as_cli()
if not _LAZY:
    import ecgsl_keras.modeling  # noqa: E402,F401  (registers custom objects)

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

__version__ = "0.1.0"

# The ``ecgsl`` command registers lazily too: ``ecgsl --help`` must start without TensorFlow, and every
# command that loads a model imports ``ecgsl_keras.modeling`` itself.
_LAZY = (_os.environ.get("ECGSL_KERAS_NO_REGISTER", "") == "1"
         or _os.path.basename(str(_sys.argv[0] if _sys.argv else "")) in ("ecgsl", "ecgsl.exe"))
if not _LAZY:
    import ecgsl_keras.modeling  # noqa: E402,F401  (registers custom objects)

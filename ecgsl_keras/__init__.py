"""ecgsl-keras: ECG Segment Learning (arXiv 2310.00818) in Keras 3 on TensorFlow.

``import ecgsl_keras`` registers every custom layer and model (package ``ecgsl``), so a saved
``.keras`` file loads with plain ``keras.models.load_model``.

That import loads Keras and TensorFlow (a few seconds). Processes that only run the numpy signal
chain (e.g. the spawned workers of ``ecgsl_keras.prepare``) can skip it: with the environment
variable ``ECGSL_KERAS_NO_REGISTER=1`` set, nothing is registered until ``ecgsl_keras.layers`` or
``ecgsl_keras.models`` is imported.

TensorFlow's C++ start-up noise (oneDNN notices, "Could not find cuda drivers", ``failed call to
cuInit`` on a machine without a GPU) is filtered by ``tfrecords_tools.quiet`` unless the user set
``TF_CPP_MIN_LOG_LEVEL``.
"""
import os as _os

from tfrecords_tools import quiet as _quiet

_quiet.install()  # before TensorFlow is imported: quiet C++ start-up logs unless TF_CPP_MIN_LOG_LEVEL is set

__version__ = "0.1.0"

if _os.environ.get("ECGSL_KERAS_NO_REGISTER", "") != "1":
    from ecgsl_keras import layers, models  # noqa: E402,F401  (registers custom objects)

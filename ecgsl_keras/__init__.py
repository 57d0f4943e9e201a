"""ecgsl-keras: ECG Segment Learning (arXiv 2310.00818) in Keras 3 on TensorFlow.

``import ecgsl_keras`` registers every custom layer and model (package ``ecgsl``), so a saved
``.keras`` file loads with plain ``keras.models.load_model``.

That import loads Keras and TensorFlow (a few seconds). Processes that only run the numpy signal
chain (e.g. the spawned workers of ``ecgsl_keras.prepare``) can skip it: with the environment
variable ``ECGSL_KERAS_NO_REGISTER=1`` set, nothing is registered until ``ecgsl_keras.layers`` or
``ecgsl_keras.models`` is imported.
"""
import os as _os

__version__ = "0.1.0"

if _os.environ.get("ECGSL_KERAS_NO_REGISTER", "") != "1":
    from ecgsl_keras import layers, models  # noqa: E402,F401  (registers custom objects)

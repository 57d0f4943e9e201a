"""ecgsl-keras: ECG Segment Learning (arXiv 2310.00818) in Keras 3 on TensorFlow.

``import ecgsl_keras`` registers every custom layer and model (package ``ecgsl``), so a saved
``.keras`` file loads with plain ``keras.models.load_model``.
"""
__version__ = "0.1.0"

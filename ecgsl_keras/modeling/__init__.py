"""The Keras models: custom layers (registered under ``ecgsl``), the ECG-SL architecture (beat
autoencoder, masked-segment model, classifiers), the ResNet baseline, losses, the optimizer and
ensembles. Importing this package registers every custom object, so ``.keras`` files load with
plain ``keras.models.load_model``."""
from ecgsl_keras.modeling import layers, losses, models, optimizers  # noqa: F401  (registers custom objects)
from ecgsl_keras.modeling import hybrid  # noqa: F401,E402  (registers ecgsl>RecordFeatureNormalization)

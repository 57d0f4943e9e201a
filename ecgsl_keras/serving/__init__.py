"""Trained models in use: inference on raw signals (``inference``), SavedModel/TFLite export
(``export``) and the end-to-end edge model with its in-graph signal chain (``edge``)."""

"""Metrics, evaluation of models on TFRecords or raw records, the hand-made-feature baseline,
saliency explanations and plots."""

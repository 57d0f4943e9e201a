"""Records -> signal -> TFRecords: data-set readers, the signal chain (cleaning, R-peaks, beats),
augmentation, record features and the preparation of sharded TFRecords (process pool or Apache Beam).
Nothing here imports TensorFlow except the TFRecord writing of ``prepare``."""

"""Training: the stages (``stages``), their inputs (``inputs``), the trainer under ``tf.distribute``
(``trainer``, ``strategy``), callbacks, hyper-parameter search (``tune``), seed ensembles from runs,
building presets (``publish``) and the quickstart pipeline."""

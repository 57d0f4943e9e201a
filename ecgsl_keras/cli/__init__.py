"""The command line: ``ecgsl <command>`` (``ecgsl_keras.cli.main``), one module per command with
``build_parser()`` and ``main(argv)``. Library code never imports from here."""

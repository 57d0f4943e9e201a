"""``python -m ecgsl_keras.prepare`` = ``ecgsl prepare`` (``ecgsl_keras.cli.prepare``)."""
import sys

if __name__ == "__main__":
    from ecgsl_keras.cli.main import run_command

    sys.exit(run_command("prepare", sys.argv[1:]))

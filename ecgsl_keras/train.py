"""``python -m ecgsl_keras.train`` = ``ecgsl train`` (``ecgsl_keras.cli.train``)."""
import sys

if __name__ == "__main__":
    from ecgsl_keras.cli.main import run_command

    sys.exit(run_command("train", sys.argv[1:]))

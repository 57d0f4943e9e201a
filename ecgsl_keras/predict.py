"""``python -m ecgsl_keras.predict`` = ``ecgsl predict`` (``ecgsl_keras.cli.predict``)."""
import sys

if __name__ == "__main__":
    from ecgsl_keras.cli.main import run_command

    sys.exit(run_command("predict", sys.argv[1:]))

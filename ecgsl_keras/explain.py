"""``python -m ecgsl_keras.explain`` = ``ecgsl explain`` (``ecgsl_keras.cli.explain``)."""
import sys

if __name__ == "__main__":
    from ecgsl_keras.cli.main import run_command

    sys.exit(run_command("explain", sys.argv[1:]))

"""``python -m ecgsl_keras.tune`` = ``ecgsl tune`` (``ecgsl_keras.cli.tune``)."""
import sys

if __name__ == "__main__":
    from ecgsl_keras.cli.main import run_command

    sys.exit(run_command("tune", sys.argv[1:]))

"""``python -m ecgsl_keras.evaluate`` = ``ecgsl evaluate`` (``ecgsl_keras.cli.evaluate``)."""
import sys

if __name__ == "__main__":
    from ecgsl_keras.cli.main import run_command

    sys.exit(run_command("evaluate", sys.argv[1:]))

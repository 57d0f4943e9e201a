"""``python -m ecgsl_keras.plot`` = ``ecgsl plot`` (``ecgsl_keras.cli.plot``)."""
import sys

if __name__ == "__main__":
    from ecgsl_keras.cli.main import run_command

    sys.exit(run_command("plot", sys.argv[1:]))

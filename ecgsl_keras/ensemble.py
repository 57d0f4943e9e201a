"""``python -m ecgsl_keras.ensemble`` = ``ecgsl ensemble`` (``ecgsl_keras.cli.ensemble``)."""
import sys

if __name__ == "__main__":
    from ecgsl_keras.cli.main import run_command

    sys.exit(run_command("ensemble", sys.argv[1:]))

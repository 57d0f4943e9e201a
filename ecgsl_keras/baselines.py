"""``python -m ecgsl_keras.baselines`` = ``ecgsl baselines`` (``ecgsl_keras.cli.baselines``)."""
import sys

if __name__ == "__main__":
    from ecgsl_keras.cli.main import run_command

    sys.exit(run_command("baselines", sys.argv[1:]))

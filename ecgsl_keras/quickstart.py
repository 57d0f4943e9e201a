"""``python -m ecgsl_keras.quickstart`` = ``ecgsl quickstart`` (``ecgsl_keras.cli.quickstart``)."""
import sys

if __name__ == "__main__":
    from ecgsl_keras.cli.main import run_command

    sys.exit(run_command("quickstart", sys.argv[1:]))

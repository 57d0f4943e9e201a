"""``python -m ecgsl_keras.export`` = ``ecgsl export`` (``ecgsl_keras.cli.export``)."""
import sys

if __name__ == "__main__":
    from ecgsl_keras.cli.main import run_command

    sys.exit(run_command("export", sys.argv[1:]))

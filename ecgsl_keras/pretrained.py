"""``python -m ecgsl_keras.pretrained`` = ``ecgsl presets`` (``ecgsl_keras.cli.presets``)."""
import sys

if __name__ == "__main__":
    from ecgsl_keras.cli.main import run_command

    sys.exit(run_command("presets", sys.argv[1:]))

# The preset API under its former name (the shipped model cards say ``from ecgsl_keras import pretrained``).
from ecgsl_keras.store.presets import *  # noqa: E402,F401,F403

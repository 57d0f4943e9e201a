"""``python -m ecgsl_keras.cli`` = ``ecgsl``."""
import sys

from ecgsl_keras.cli.main import main

sys.exit(main())

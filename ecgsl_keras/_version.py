"""The package version: one definition (ecgsl_keras.__version__, setup.py, run folders, presets)."""
__version__ = "0.1.0"

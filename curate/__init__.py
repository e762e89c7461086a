"""curate: build, diagnose and correct training data for universal machine-learning interatomic potentials."""

__version__ = "0.1.0"

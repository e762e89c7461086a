"""Diagnostics: where a dataset (and a model trained on it) is biased toward equilibrium."""

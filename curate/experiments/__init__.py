"""Experiments that prove a correction set works: fine-tune-and-evaluate comparisons and scaling laws.

:mod:`curate.experiments.correction_gain` fine-tunes on a chosen correction set and on random sets of the
same size and compares their benchmark errors (statistics in :mod:`curate.experiments.gains`);
:mod:`curate.experiments.scaling` measures validation error against training-set size for GGA -> r2SCAN
transfer-learning methods (table in :mod:`curate.experiments.scaling_results`, fits in
:mod:`curate.experiments.power_law`). Both train only through the
:class:`~curate.training.fine_tuner.FineTuner` interface, so they work for every registered architecture.
"""

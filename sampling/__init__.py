"""Generators and selectors of high-energy candidate structures (filled by the sampling issue).

Generation: ``sampling.generators`` (one module per generator behind one interface, registry of names),
``sampling.recipe`` (YAML recipes chaining generators, e.g. ``datasets/high-energy.yaml``) and
``sampling.generate`` (streams a dataset's rows through a recipe into a new dataset: ``curate generate``).
"""

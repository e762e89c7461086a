"""Generation and selection of high-energy candidate structures.

Generation: ``sampling.generators`` (one module per generator behind one interface, registry of names),
``sampling.recipe`` (recipes chaining generators; the YAML schema is ``curate.sources.recipes``, e.g.
``datasets/high-energy.yaml``) and ``sampling.generate`` (streams a dataset's rows through a recipe into a new
dataset: ``curate generate``).

Selection (``curate sample``): ``sampling.pool`` (candidate rows: a recipe on built-in structures, or a
dataset), ``sampling.scoring`` (scorers behind one interface, registry of names), ``sampling.selection``
(selectors behind one interface, registry of strategies), ``sampling.sample`` (the flow from candidate rows to
picks) and ``sampling.output`` (what ``curate sample`` writes).
"""

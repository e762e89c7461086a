"""Training: fine-tune a uMLIP on a dataset (``linear``, ``full``, ``heads``) and save a model a spec loads.

The flow is dataset rows -> :class:`~curate.training.data.TrainingSet` (labelled configurations) ->
an architecture's fine-tuner (:mod:`curate.training.chgnet_finetune`, :mod:`curate.training.mace_finetune`,
:mod:`curate.training.matgl_finetune`) -> :class:`~curate.training.result.FinetuneResult` -> a folder with the
model file and ``training.json``. :mod:`curate.training.finetune` dispatches on the model spec.
"""

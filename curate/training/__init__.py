"""Training: fine-tune a uMLIP on a dataset (``linear``, ``full``, ``heads``) and save a model a spec loads.

The flow is dataset rows -> :class:`~curate.training.data.TrainingSet` (labelled configurations) -> the
:class:`~curate.training.fine_tuner.FineTuner` registered for the model's architecture
(:data:`curate.training.registry.FINE_TUNERS`: :mod:`~curate.training.chgnet_finetune`,
:mod:`~curate.training.mace_finetune`, :mod:`~curate.training.matgl_finetune`, each filling in the hooks of
:class:`~curate.training.fine_tuner.TorchFineTuner`) -> :class:`~curate.training.result.FinetuneResult` -> a
folder with the model file and ``training.json``. :mod:`curate.training.finetune` loads a spec and dispatches.
"""

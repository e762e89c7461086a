"""Publishing a dataset to the Hugging Face Hub and pulling it back.

The modules follow the data flow: ``split`` (material-level seeded split) -> ``layout`` (configs per functional
and generator, Parquet shards sized by bytes) with ``stats`` collected on the way -> ``figures`` and ``reports``
(the bias plots and the dataset's own ``reports/*.json``) -> ``card`` (README.md with YAML front matter) ->
``build`` (the release folder, exactly what is uploaded) -> ``hub`` (resumable upload) and ``pull`` (back into a
curate dataset).
"""

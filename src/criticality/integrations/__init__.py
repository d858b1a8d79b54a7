"""Where users already work: Lightning, Hugging Face, notebooks, pandas and TensorBoard.

Each module imports its library only when used, so ``criticality`` installs without them:

* :mod:`.lightning`: ``CriticalityCallback`` for ``lightning`` trainers (extra ``[lightning]``);
* :mod:`.hf`: ``CriticalityTrainerCallback`` for the ``transformers`` ``Trainer`` and helpers
  for language models (extra ``[hf]``; their stages are in :mod:`criticality.stages`);
* :mod:`.tensorboard`: scalars and spectrum histograms, live or from a finished run (extra
  ``[tensorboard]``);
* :mod:`.frames`: tidy pandas DataFrames of any run's ``results.json``, CSV and Parquet export
  (Parquet needs the extra ``[parquet]``);
* :mod:`.notebook`: a finished run shown in Jupyter (``CriticalityReport`` renders itself).
"""

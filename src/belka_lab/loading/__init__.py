"""Batches for training: the ``BelkaDataModule`` (which molecules train, validate and are
predicted; it makes the data exist) and the loaders it is configured with (memory-mapped or
device-resident arrays, DALI over TFRecord shards), each handed a ``Feed`` and a ``Place``
rather than the data module; and the batches of pretraining. Imports the layers below it.
"""

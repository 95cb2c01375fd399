"""Scoring and writing what a run predicted: the competition's metric, validation cells
(``ValidationCells``, given to the training module), the results table, PR plots,
submission files, the prediction writer, blending and the report of a sweep. Imports ``core``
and ``dataset``.
"""

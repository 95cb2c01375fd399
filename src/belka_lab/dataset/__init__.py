"""The data contract: the targets (``schema``), reading the Kaggle-format train and test files,
merging repeated rows, ``prepare`` (files → the prepared directory), folds and splits, and
``store``, the layout of the prepared directory and its manifest. Imports ``core`` and
``tokens``.
"""

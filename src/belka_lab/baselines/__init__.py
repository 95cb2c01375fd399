"""Tree models on ECFP fingerprints (LightGBM, random forest), one per protein, and ``fit`` (a
baseline run on the training runs' folds, written like one). Imports the layers below it.
"""

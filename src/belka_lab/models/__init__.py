"""The networks and the one ``BelkaModule`` they train in: the backbone contract, the layers, one
file per backbone, losses, optimizer groups and loading a pretrained encoder. A backbone never
knows about folds, loaders or accelerators. Imports ``core``, ``tokens`` and ``evaluation``.
"""

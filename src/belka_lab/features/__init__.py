"""What RDKit computes per molecule, cached beside the prepared data: ECFP fingerprints (baselines,
the ECFP pretraining objective), 2D descriptors, and the parallel-chunk runner they share.
Imports ``core`` and ``tokens``.
"""

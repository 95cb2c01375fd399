"""Training from a composed config: ``train`` (pretraining stages, fit, predict, the run's outputs)
and ``tune`` (an Optuna search that trains each trial in this process). Imports every layer
below it; only ``cli`` and ``screen`` are above.
"""

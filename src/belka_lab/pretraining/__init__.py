"""Pretraining an encoder without labels: the objectives (masked tokens, ECFP bits, descriptors;
chosen by the ``objective`` config group's ``_target_``), their LightningModules, the
``pretrain`` library function and the chain of stages a training config can run before
fine-tuning. Imports ``run`` and the layers below it.
"""

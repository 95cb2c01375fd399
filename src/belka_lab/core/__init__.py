"""What every layer shares and nothing else: user errors (``InputError``, exit 2), atomic files and
staged directories (``io``), the one progress bar, figures, curves drawn when a run ends, the
Lightning callbacks of the framework, trackers, process settings (``runtime``), checks of the
accelerator and of resumption, and where the Hydra config tree is. It imports no other
``belka_lab`` package.
"""

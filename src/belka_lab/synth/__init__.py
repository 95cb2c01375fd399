"""The built-in synthetic DEL library: building-block chemistry, the hidden binding rule and the
generator that writes Kaggle-format files with share / non_share / other_core test groups.
Imports ``core``, ``tokens`` and ``dataset``.
"""

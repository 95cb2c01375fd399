"""The built-in synthetic DEL library: building-block chemistry (``blocks``), its settings
(``config``), the hidden binding rule (``rule``) and the generator that writes Kaggle-format files
with share / non_share / other_core test groups (``generate``). Imports ``core``, ``tokens`` and
``dataset``.
"""

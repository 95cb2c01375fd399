"""After training: what to order. Synthon tables of a selection (``synthons``), and the run's
predictions read beside them. Imports ``dataset`` and ``evaluation``.
"""

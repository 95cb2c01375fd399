"""Screening: score any molecule file with a finished run, a blend or an exported model
(``belka predict``), and export a run's network (``belka export``). Imports every layer but ``cli``.

- ``runs.py``: reading a finished run (config, results, data module, checkpoint, training blocks);
- ``exported.py``: an ONNX or TorchScript file loaded once and run;
- ``reader.py``: molecule files (CSV, parquet, ``.smi``, or a directory of them) → chunks of
  whole rows, in input order, with bounded memory;
- ``applicability.py``: how many of a molecule's building blocks the training set contained;
- ``scorers.py``: what scores a chunk — a training run, a baseline run, a blend, an exported file;
- ``parts.py``: the output, written a chunk at a time, each part atomically, the manifest last;
- ``screening.py``: the loop over chunks, on one or several processes;
- ``overview.py``: what the screen found, by applicability group (``predict.png``, hits);
- ``predict.py``: a screen from its config (``conf/predict.yaml``);
- ``export.py``: a run's network as ONNX or TorchScript, checked against PyTorch.
"""

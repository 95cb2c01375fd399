#!/usr/bin/env bash
# XLA readiness of every backbone, on torch_xla's CPU backend (no TPU needed):
#   scripts/check_xla.sh            (from the repository root; ~4 GB of downloads, minutes)
# Builds its own environment, .venv-xla: torch_xla is bound to one torch release (2.9 here),
# which cannot share a venv with the CPU torch of .venv. Then runs scripts/xla_steps.py with
# PJRT_DEVICE=CPU: each backbone's training step (BelkaModule loss, backward, optimizer) and
# evaluation step on batches of fixed shape and changing content, asserting that after the
# warm-up steps no step compiles a new graph (torch_xla's CompileTime metric stays put).
# Not part of CI. On a TPU VM, install the [tpu] extra instead and use trainer=tpu.
set -euo pipefail
VENV=${VENV:-.venv-xla}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "torch==2.9.0" "torch_xla==2.9.0"
  "$VENV/bin/python" -m pip install -q -e .
fi
PJRT_DEVICE=CPU "$VENV/bin/python" scripts/xla_steps.py "$@"

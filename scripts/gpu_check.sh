#!/usr/bin/env bash
# The GPU part of the benchmark suite in one go (~8 minutes on one H100), run from the
# repository root on a CUDA machine:  scripts/gpu_check.sh [WHEEL_DIR]
#
# CUDA images usually carry torch, lightning and transformers but not hydra-core, omegaconf and
# antlr4-python3-runtime. Whatever of those is missing is installed from the wheels in WHEEL_DIR
# (default .whl), made beforehand on a machine with internet:
#   pip download --no-deps -d .whl hydra-core==1.3.2 omegaconf==2.3.0 antlr4-python3-runtime==4.9.3
# The synthetic library is generated with RDKit, which such images usually lack too: generate
# it here first (`python -m belka_lab prepare`) and bring along data/synthetic-200000-30000-seed0-own_library/
# {train,test,test_solution}.parquet and synth.json (14 MB; prepare itself needs no RDKit).
# Prints a table; every measurement is also appended to ${OUT:-logs}/gpu_check.jsonl.
set -euo pipefail
WHEELS=${1:-.whl}
LIB=data/synthetic-200000-30000-seed0-own_library   # the default data config's library
if [ ! -f "$LIB/train.parquet" ] && ! python3 -c "import rdkit" 2>/dev/null; then
  echo "gpu_check: $LIB/train.parquet is missing and RDKit is not installed to generate it;" \
       "run python -m belka_lab prepare where RDKit is and bring $LIB/{train,test,test_solution}.parquet and synth.json" >&2
  exit 2
fi
SITE=$(mktemp -d)
if ! python3 -c "import hydra, omegaconf, antlr4" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" "$WHEELS"/*.whl
fi
export PYTHONPATH="$PWD/src:$SITE" PYTHONUNBUFFERED=1
JSONL=${OUT:-logs}/gpu_check.jsonl
mkdir -p "$(dirname "$JSONL")"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, lightning; print('torch', torch.__version__, '| lightning', lightning.__version__)"
bench() { python3 -m benchmarks "$@" --jsonl "$JSONL" 2>&1 | grep -vE "Warning|warn\(|it/s|mol/s\]|row/s\]" ; }

python3 -m belka_lab prepare data.prepare.progress=false > /dev/null   # the synthetic library, once
# the 1D CNN: device-resident batches (the default on a GPU) vs the host path, framework vs bare loop
bench step trainer=gpu model=cnn data.batch_size=4096 --steps 100 --warmup 20
bench step trainer=gpu model=cnn data.batch_size=4096 data.loader.resident=false --steps 100 --warmup 20
bench step trainer=gpu model=cnn data.batch_size=16384 compile=true --steps 60 --warmup 15
# where the training run waits for the GPU (goal: no synchronisation inside training steps)
python3 scripts/cuda_syncs.py model=cnn data.batch_size=4096 2>&1 | sed -n '/^CUDA synchronisations/,$p' | tee "$(dirname "$JSONL")/cuda_syncs.txt"
# the winning architecture in its fast form
bench step trainer=gpu model=se_xception model.backbone.channels_last=true compile=true data.batch_size=2048 --steps 30 --warmup 6
# prediction of the test molecules (goal: BELKA's 1.67M rows in under a minute)
bench predict trainer=gpu model=cnn data.eval_batch_size=16384
bench predict trainer=gpu model=se_xception model.backbone.channels_last=true data.eval_batch_size=8192
# belka predict's streaming path on the GPU against the in-process pass, same molecules (bf16-mixed, batch 16384)
bench screen trainer=gpu model=cnn data.eval_batch_size=16384 --screen-rows ''
# what follows each epoch and the training at BELKA's size: validation AP on the GPU vs sklearn, the output files
bench outputs --device cuda

python3 - "$JSONL" <<'PY'
import json, sys
print(f"\n{'measurement':95s} {'per second':>12s} {'seconds':>8s}")
for line in open(sys.argv[1]):
    record = json.loads(line)
    for r in record["results"]:
        per = f"{r['per_s']:.2f}" if r.get("ratio") else f"{r['per_s']:,.0f}"
        print(f"{r['what'][:95]:95s} {per:>12s} {r.get('seconds', float('nan')):8.1f}")
PY

#!/usr/bin/env bash
# Does validation pick the winner on unseen building blocks? Five recipes x three seeds on one
# synthetic library, validated in the leaderboard's cells (split=bb), scored on the three test
# groups, then `report` (recipes.csv|png, agreement.csv). From the repository root:
#   bash experiments/2026-11-30_generalisation/run.sh          # OUT=logs/generalisation by default
# About 45 minutes on 2 CPU cores (one epoch of fine-tuning; 60 batches of each pretraining
# stage). The two pretraining stages run once; every pretrained recipe
# fine-tunes its three seeds from the same encoder.
set -euo pipefail
OUT=${OUT:-logs/generalisation}
PY=${PY:-.venv/bin/python}
LIB=data/generalisation-30000-30000
# a library with 4% positives per protein, so every test group has >= 100 positives per protein
DATA=(data.root=$LIB data.synth.n_train=30000 data.synth.n_test=30000 +data.synth.rates=[0.04,0.04,0.04]
      data.prepare.progress=false)
COMMON=("${DATA[@]}" split=bb fold=0 trainer.max_epochs=1 data.batch_size=256 trainer.enable_progress_bar=false
        trainer.enable_model_summary=false)
SMALL=(model=transformer_small tokenizer=atom tokenizer.path=$LIB/tokenizers/atom)
PRE=("${DATA[@]}" "${SMALL[@]}" data.batch_size=256 +trainer.limit_train_batches=60 trainer.enable_progress_bar=false
     trainer.enable_model_summary=false)

# pretraining, once: masked tokens, then ECFP bits from that encoder
$PY -m belka_lab pretrain "${PRE[@]}" objective=mlm trainer.max_epochs=1 hydra.run.dir=$OUT/pretrain/mlm
$PY -m belka_lab pretrain "${PRE[@]}" objective=ecfp trainer.max_epochs=1 \
    model.init_from=$OUT/pretrain/mlm/encoder.pt hydra.run.dir=$OUT/pretrain/ecfp

sweep() {  # name, overrides...: three seeds of one recipe
  local name=$1; shift
  $PY -m belka_lab -m "${COMMON[@]}" "$@" seed=1,2,3 hydra.sweep.dir=$OUT/runs/$name
}
sweep cnn model=cnn
sweep transformer_small "${SMALL[@]}"
sweep transformer_small_mlm "${SMALL[@]}" model.init_from=$OUT/pretrain/mlm/encoder.pt
sweep transformer_small_mlm_ecfp "${SMALL[@]}" model.init_from=$OUT/pretrain/ecfp/encoder.pt
sweep transformer_small_mlm_ecfp_focal "${SMALL[@]}" model.init_from=$OUT/pretrain/ecfp/encoder.pt loss=focal

$PY -m belka_lab report $OUT/runs

#!/usr/bin/env bash
# Count models against binary labels on the simulated selection (see README.md here).
# bash experiments/2026-12-01_counts/run.sh   (about 45 min on 2 CPU cores) — writes logs/counts/<depth>/<recipe>-seed<s>/ and summary.csv
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-logs/counts}
N=${N:-20000}
PY=${PY:-.venv/bin/python}
COMMON=(data=selection "data.simulate.n_compounds=$N" data.prepare.progress=false "paths.root_dir=$PWD")
TRAIN=(trainer.max_epochs=2 data.batch_size=256 "model.backbone.hidden=[256,256]" trainer.enable_progress_bar=false
       trainer.enable_model_summary=false)
for depth in 10.0 1.0; do
  for seed in 1 2 3; do
    for loss in bce mse zip; do
      run="$OUT/depth$depth/$loss-seed$seed"
      [ -f "$run/results.json" ] && continue
      monitor=(callbacks.model_checkpoint.monitor=val/spearman callbacks.model_checkpoint.mode=max)
      $PY -m belka_lab "${COMMON[@]}" "data.simulate.depth=$depth" "seed=$seed" "loss=$loss" \
        "${TRAIN[@]}" "${monitor[@]}" "hydra.run.dir=$run" > /dev/null
    done
    run="$OUT/depth$depth/lgbm_poisson-seed$seed"
    [ -f "$run/results.json" ] || $PY -m belka_lab baseline "${COMMON[@]}" "data.simulate.depth=$depth" \
      "seed=$seed" baseline=lgbm baseline.learn=counts baseline.log_every=0 baseline.num_boost_round=300 "hydra.run.dir=$run" > /dev/null
  done
done
$PY - "$OUT" <<'PY'
import json, sys
from pathlib import Path
import pandas as pd
rows = []
for f in sorted(Path(sys.argv[1]).glob("depth*/*/results.json")):
    r = json.loads(f.read_text())
    recipe, seed = f.parent.name.rsplit("-seed", 1)
    rows.append({"depth": float(f.parent.parent.name[5:]), "recipe": recipe, "seed": int(seed),
                 **{k: r.get(k) for k in ("val_map", "val_spearman", "affinity_spearman", "affinity_spearman_seen",
                                          "affinity_spearman_unseen", "affinity_kendall")}})
df = pd.DataFrame(rows)
df.to_csv(Path(sys.argv[1]) / "summary.csv", index=False)
cols = ["val_spearman", "affinity_spearman", "affinity_spearman_seen", "affinity_spearman_unseen"]
agg = df.groupby(["depth", "recipe"], sort=False)[cols].agg(["mean", "std"])
print(agg.round(3).to_string())
PY

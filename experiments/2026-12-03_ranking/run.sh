#!/usr/bin/env bash
# Does the ranking term (model.rank_weight) help a count model? zip and mse, with and without it,
# on the simulated selection (see README.md here).
# bash experiments/2026-12-03_ranking/run.sh   (about 12 min on 2 CPU cores) — writes logs/ranking/<depth>/<recipe>-seed<s>/ and summary.csv
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-logs/ranking}
N=${N:-20000}
PY=${PY:-.venv/bin/python}
COMMON=(data=selection "data.simulate.n_compounds=$N" data.prepare.progress=false "paths.root_dir=$PWD")
TRAIN=(trainer.max_epochs=2 data.batch_size=256 "model.backbone.hidden=[256,256]" trainer.enable_progress_bar=false
       trainer.enable_model_summary=false callbacks.model_checkpoint.monitor=val/spearman
       callbacks.model_checkpoint.mode=max)
recipes() {  # depth → the recipes run at it: loss:rank_weight
  if [ "$1" = "10.0" ]; then echo "zip:0 zip:0.5 mse:0 mse:0.5"; else echo "zip:0 zip:0.5"; fi
}
for depth in 10.0 1.0; do
  for seed in 1 2 3; do
    for recipe in $(recipes "$depth"); do
      loss=${recipe%%:*}; weight=${recipe##*:}
      name=$loss; [ "$weight" = "0" ] || name="$loss+rank$weight"
      run="$OUT/depth$depth/$name-seed$seed"
      [ -f "$run/results.json" ] && continue
      $PY -m belka_lab "${COMMON[@]}" "data.simulate.depth=$depth" "seed=$seed" "loss=$loss" \
        "model.rank_weight=$weight" "${TRAIN[@]}" "hydra.run.dir=$run" > /dev/null
    done
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
                 **{k: r.get(k) for k in ("val_spearman", "affinity_spearman", "affinity_spearman_seen",
                                          "affinity_spearman_unseen", "samples_per_s")}})
df = pd.DataFrame(rows)
df.to_csv(Path(sys.argv[1]) / "summary.csv", index=False)
cols = ["val_spearman", "affinity_spearman", "affinity_spearman_seen", "affinity_spearman_unseen", "samples_per_s"]
agg = df.groupby(["depth", "recipe"], sort=False)[cols].agg(["mean", "std"])
print(agg.round(4).to_string())
PY

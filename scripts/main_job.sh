#!/usr/bin/env bash
# The main job on a fresh machine: set up .venv, train the Mean Teacher bundle's quick config on the built-in
# phantom breast data (1/8 labelled), evaluate the selected checkpoint on the test split and print the
# per-structure Dice / IoU / HD95 table. Both runs are tracked in MLflow (sqlite store in the bundle's eval/).
# Usage: bash scripts/main_job.sh [extra monai.bundle overrides, e.g. --task cardiac]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$(bash "$root/scripts/setup_env.sh" | tail -n 1)"
bundle="$root/bundles/meanteacher_us_segmentation"
cd "$bundle"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
"$venv/bin/python" -m monai.bundle run \
  --config_file "['configs/train.json','configs/quick.json']" --bundle_root "$bundle" --tracking mlflow "$@"
"$venv/bin/python" -m monai.bundle run \
  --config_file "['configs/train.json','configs/quick.json','configs/evaluate.json']" --bundle_root "$bundle" \
  --tracking mlflow "$@"
echo
echo "per-image results: $bundle/eval/test_metrics_per_image.csv"
echo "browse the runs:   $venv/bin/mlflow ui --backend-store-uri sqlite:///$bundle/eval/mlruns.db"

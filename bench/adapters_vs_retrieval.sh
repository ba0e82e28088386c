#!/usr/bin/env bash
# Per-user LoRA adapters vs retrieval vs both vs neither, with cold-start/rich breakdowns.
# Sized for 2 CPU cores on the bundled data with the bundled SmolLM2.
#   bash bench/adapters_vs_retrieval.sh [OUT_DIR] [TASK_DIGIT]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/adapters}; T=${2:-3}
LAMP=${LAMP:-.venv/bin/lamp}
Q="data/demo/LaMP_$T/dev/dev_questions.json"; G="data/demo/LaMP_$T/dev/dev_outputs.json"
$LAMP adapters train --questions "$Q" --task "LaMP-$T" --model SmolLM2-135M-Instruct --adapter_dir "$OUT" \
  --epochs "${EPOCHS:-2}" --learning_rate 1e-3 --batch_size 8 --max_length 128
P=($LAMP adapters predict --questions "$Q" --task "LaMP-$T" --model SmolLM2-135M-Instruct --num_beams 1
   --max_new_tokens 8 --batch_size 8)
"${P[@]}" --output "$OUT/none.json"
"${P[@]}" --adapter_dir "$OUT" --output "$OUT/adapter.json"
"${P[@]}" --use_retrieval --num_retrieved 2 --output "$OUT/retrieval.json"
"${P[@]}" --adapter_dir "$OUT" --use_retrieval --num_retrieved 2 --output "$OUT/both.json"
for m in none adapter retrieval both; do
  echo "== $m"; $LAMP eval --golds "$G" --preds "$OUT/$m.json" --breakdown "$Q"
done
for m in adapter retrieval both; do
  $LAMP compare "$OUT/none.json" "$OUT/$m.json" --golds "$G" --names none "$m"
done

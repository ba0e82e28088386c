#!/usr/bin/env bash
# Does fine-tuning with retrieval beat fine-tuning without the profile? (the training issue's check)
# LoRA on the bundled SmolLM2, sized for 2 CPU cores; prints `lamp compare` per task.
#   bash bench/train_with_retrieval.sh [OUT_DIR] [TASKS...]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/train}; shift || true
TASKS=${*:-1 2 3}
LAMP=${LAMP:-.venv/bin/lamp}
for t in $TASKS; do
  for mode in none bm25; do
    extra=(); [ "$mode" = bm25 ] && extra=(--use_profile --retriever bm25 --num_retrieved 2)
    $LAMP train --task "LaMP-$t" --model_name SmolLM2-135M-Instruct \
      --train_data "data/demo/LaMP_$t/train/train_questions.json" \
      --validation_data "data/demo/LaMP_$t/dev/dev_questions.json" \
      --output_dir "$OUT/LaMP_$t-$mode" "${extra[@]}" --lora --learning_rate 1e-3 --num_train_epochs "${EPOCHS:-1}" \
      --per_device_batch_size 8 --generation_num_beams 1 --generation_max_length 8 --save_total_limit 1
  done
  $LAMP compare "$OUT/LaMP_$t-none/dev_predictions.json" "$OUT/LaMP_$t-bm25/dev_predictions.json" \
    --golds "data/demo/LaMP_$t/dev/dev_outputs.json" --names none bm25
done

#!/usr/bin/env bash
# User embeddings against no personalization, RAG (bm25) and per-user LoRA, with SmolLM2 on the
# bundled demo data: LaMP-7 (generation, with the gold perplexity per user) and LaMP-2 (label
# choice). Sized for a shared 2-core CPU: the user embeddings see one epoch over the first 64
# (LaMP-7) / 48 (LaMP-2, long prompts) training questions; per-user LoRA adapters for both tasks
# (LaMP-2's took 495 s for 17 users on idle cores).
# Resumable: rerun the same command after a kill. Results: OUT/report.md and OUT/results.json.
#   bash bench/uemb_experiment.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/uemb}
LAMP=${LAMP:-.venv/bin/lamp}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
COMMON=(--data data/demo --out "$OUT" --epochs 1 --learning_rate 3e-3 --lora_epochs 1)
$LAMP uemb compare "${COMMON[@]}" --tasks LaMP-7 --train_limit 64 &
$LAMP uemb compare "${COMMON[@]}" --tasks LaMP-2 --train_limit 48 &
wait
$LAMP uemb compare "${COMMON[@]}" --tasks LaMP-7 --train_limit 64 >/dev/null   # the merged report (all cached)
cat "$OUT/report.md"

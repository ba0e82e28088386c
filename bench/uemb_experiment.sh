#!/usr/bin/env bash
# User embeddings against no personalization, RAG (bm25) and per-user LoRA, with SmolLM2 on the
# bundled demo data: LaMP-7 (generation, with the gold perplexity per user) and LaMP-2 (label
# choice). Sized for a 2-core CPU: LaMP-2's long prompts train on the first 48 training questions.
# Resumable: rerun the same command after a kill. Results: OUT/report.md and OUT/results.json.
#   bash bench/uemb_experiment.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/uemb}
LAMP=${LAMP:-.venv/bin/lamp}
$LAMP uemb compare --data data/demo --tasks LaMP-7 --out "$OUT" --epochs 2 --learning_rate 3e-3 --lora_epochs 1
$LAMP uemb compare --data data/demo --tasks LaMP-2 --out "$OUT" --epochs 2 --learning_rate 3e-3 --lora_epochs 1 --train_limit 48

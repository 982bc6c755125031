#!/usr/bin/env bash
# Pack the recognizer's training lines into .gpu/lines.npz for scripts/gpu-recipe.sh.
#
# Everything that travels to the lent GPU machine must fit in 64 MiB with the working
# tree (about 12 MiB) and the carried wheels (about 6 MiB): lines are stored at 48 px as
# WebP (quality 60), lectaurep-lines and the synthetic lines are sampled.
# The synthetic sources are made first under $RUNS (scripts/make-synthetic-lines.sh).
set -euo pipefail
DATA=${MEDOCR_DATA:-../shared/data}
RUNS=${RUNS:-runs}
OUT=${1:-.gpu/lines.npz}
[ -d "$DATA/poilus-lines" ] || { echo "pack-gpu-lines: $DATA has no poilus-lines (set MEDOCR_DATA)" >&2; exit 2; }
mkdir -p "$(dirname "$OUT")"
RUNS="$RUNS" bash "$(dirname "$0")/make-synthetic-lines.sh"
sources=()
for name in poilus copiste peraire cremma-mss19 cremma-mss20 celestine; do
  sources+=(--source "$name=$DATA/$name-lines/train.jsonl")
done
sources+=(--source "lectaurep=$DATA/lectaurep-lines/train.jsonl#4500")
sources+=(--source "certlines=$RUNS/fieldlines-train/lines.jsonl")
sources+=(--source "synthlines=$RUNS/synth-lines-train/lines.jsonl#3000")
for name in poilus lectaurep copiste peraire; do
  sources+=(--source "$name=$DATA/$name-lines/val.jsonl:val#250")
done
sources+=(--source "certlines=$RUNS/fieldlines-val/lines.jsonl:val#250")
medocr dataset pack "${sources[@]}" --out "$OUT" --height 48 --quality 60

#!/usr/bin/env bash
# Train (or resume) the default recognizer on this machine's CPUs: the full recipe.
#
# Continues INIT (default: the shipped fr-crnn-small) on every real line set of
# $MEDOCR_DATA (their val splits validate, never train) and on synthetic lines, with the
# TensorFlow trainer (medocr train recognizer). A checkpoint is written every epoch:
# rerun the same command to resume after an interruption, in this session or the next.
# From epoch AVERAGE_FROM (default 1; empty: off) the run also keeps the mean of the
# weights at each epoch's end, a bundle in $RUN/average when it validates best; the best
# single epoch is $RUN/best. Ship the better of the two when it beats the shipped model
# (benchmarks/bench_val_sets.py compares them on every validation set;
# scripts/ship-model.sh ships).
#
# Synthetic sources are made once under $RUNS (scripts/make-synthetic-lines.sh).
#
#   bash scripts/train-default.sh            # in the background: nohup ... &
set -euo pipefail
DATA=${MEDOCR_DATA:-../shared/data}
RUNS=${RUNS:-runs}
RUN=${RUN:-$RUNS/crnn-default}
INIT=${INIT:-fr-crnn-small}
EPOCHS=${EPOCHS:-200}
LR=${LR:-5e-5}
STEPS=${STEPS:-300}
AVERAGE_FROM=${AVERAGE_FROM-1}
EXTRA=${EXTRA:-}   # more options, e.g. "--arch attention --minutes 35"
[ -d "$DATA/poilus-lines" ] || { echo "train-default: $DATA has no poilus-lines (set MEDOCR_DATA)" >&2; exit 2; }

RUNS="$RUNS" bash "$(dirname "$0")/make-synthetic-lines.sh"

real() {  # NAME WEIGHT: a real set, with its val split when it has one
  local val="$DATA/$1-lines/val.jsonl"
  [ -s "$val" ] && echo "--data $1=$DATA/$1-lines/train.jsonl,$val@$2" || echo "--data $1=$DATA/$1-lines/train.jsonl@$2"
}
# shellcheck source=scripts/mixture.sh
. "$(dirname "$0")/mixture.sh"
sources=""
for source in $MIXTURE_REAL; do sources="$sources $(real "${source%=*}" "${source#*=}")"; done
declare -A synthetic=(
  [certlines]="$RUNS/fieldlines-train/lines.jsonl,$RUNS/fieldlines-val/lines.jsonl"
  [synthlines]="$RUNS/synth-lines-train/lines.jsonl,$RUNS/synth-lines-val/lines.jsonl"
)
for source in $MIXTURE_SYNTH; do
  sources="$sources --data ${source%=*}=${synthetic[${source%=*}]}@${source#*=}"
done
# shellcheck disable=SC2086
exec medocr train recognizer --init "$INIT" --out "$RUN" $sources \
  --batch-size 32 --steps-per-epoch "$STEPS" --epochs "$EPOCHS" --patience 8 --seed 11 \
  --learning-rate "$LR" --max-val-lines 300 ${AVERAGE_FROM:+--average-from "$AVERAGE_FROM"} $EXTRA

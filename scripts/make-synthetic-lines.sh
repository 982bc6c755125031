#!/usr/bin/env bash
# Make the recognizer's synthetic training sources once (each step skipped when present):
#   $RUNS/certs-{train,val}          medocr synth (800 / 100 certificates, seeds 101 / 102)
#   $RUNS/fieldlines-{train,val}     medocr dataset field-lines of those certificates
#   $RUNS/synth-lines-{train,val}    medocr synth-lines (6000 / 300 lines, seeds 103 / 104)
# field-lines exits 1 when some certificate failed to register; the others are kept.
# The sampler's CIM-10 words come from $MEDOCR_DATA/cim10 (default here: ../shared/data,
# as the shipped model was trained); medocr itself never looks there unless told.
set -euo pipefail
RUNS=${RUNS:-runs}
export MEDOCR_DATA=${MEDOCR_DATA:-../shared/data}
[ -f "$MEDOCR_DATA/cim10/cim10.csv.gz" ] || echo "make-synthetic-lines: no $MEDOCR_DATA/cim10: built-in vocabulary only" >&2
if [ ! -f "$RUNS/fieldlines-train/lines.jsonl" ]; then
  medocr synth --count 800 --seed 101 --out "$RUNS/certs-train" --quiet
  medocr dataset field-lines "$RUNS/certs-train" --out "$RUNS/fieldlines-train" --workers 2 --quiet || true
fi
if [ ! -f "$RUNS/fieldlines-val/lines.jsonl" ]; then
  medocr synth --count 100 --seed 102 --out "$RUNS/certs-val" --quiet
  medocr dataset field-lines "$RUNS/certs-val" --out "$RUNS/fieldlines-val" --workers 2 --quiet || true
fi
[ -f "$RUNS/synth-lines-train/lines.jsonl" ] ||
  medocr synth-lines --count 6000 --seed 103 --out "$RUNS/synth-lines-train" --quiet
[ -f "$RUNS/synth-lines-val/lines.jsonl" ] ||
  medocr synth-lines --count 300 --seed 104 --out "$RUNS/synth-lines-val" --quiet

#!/usr/bin/env bash
# The prepared GPU recipe: train the recognizer on a lent GPU machine for a few minutes.
#
# That machine has JAX but no TensorFlow and no network, so this runs Keras 3 on the JAX
# backend (medocr.training.portable) from what travels with the working tree:
#   .gpu/lines.npz   the packed training and validation lines (scripts/pack-gpu-lines.sh)
#   .whl/*.whl       keras and the dependencies the machine lacks (scripts/fetch-gpu-wheels.sh)
# Two runs share the GPU and the CPU cores, each for MINUTES of wall-clock time:
#   A  the shipped default continued (--init fr-crnn-small);
#   B  the same architecture from scratch, on the same data and budget.
# Each writes its best bundle, curves and log under $OUT/A and $OUT/B.
#
# On the device tool:  run(command="bash scripts/gpu-recipe.sh", carry=[".gpu", ".whl"])
# On a CPU, to check the recipe before spending GPU minutes:
#   OUT=/tmp/gpu-out MINUTES=1 PYTHON=python WORKERS=1 BATCH=16 bash scripts/gpu-recipe.sh
set -euo pipefail

OUT=${OUT:?set OUT to the output folder}
MINUTES=${MINUTES:-7.5}
PYTHON=${PYTHON:-python3}
WORKERS=${WORKERS:-7}
BATCH=${BATCH:-128}
PACKED=${PACKED:-.gpu/lines.npz}
# run A starts from INIT_A; run B from INIT_B, or from scratch when INIT_B is empty
INIT_A=${INIT_A:-fr-crnn-small}
INIT_B=${INIT_B:-}
LR_A=${LR_A:-7e-4}
LR_B=${LR_B:-1.5e-3}
# shellcheck source=scripts/mixture.sh
. "$(dirname "$0")/mixture.sh"
WEIGHTS=""
for source in $MIXTURE_REAL $MIXTURE_SYNTH; do WEIGHTS="$WEIGHTS --weight $source"; done

export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
[ -f "$PACKED" ] || { echo "gpu-recipe: $PACKED not found (scripts/pack-gpu-lines.sh)" >&2; exit 2; }
if ! "$PYTHON" -c "import keras" 2>/dev/null; then
  ls .whl/*.whl >/dev/null 2>&1 || { echo "gpu-recipe: no keras and no .whl/ to install" >&2; exit 2; }
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
"$PYTHON" -c "import jax, keras; print('gpu-recipe: jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"

mkdir -p "$OUT/A" "$OUT/B"
rm -rf /tmp/run-A /tmp/run-B  # each call starts fresh: never copy an earlier run's best
common=(--minutes "$MINUTES" --batch-size "$BATCH" --workers "$WORKERS" --buckets 512,1024,2048
  --validate-every 75 --max-val-lines 300 --seed 7)
# shellcheck disable=SC2086
"$PYTHON" -m medocr.training.portable "$PACKED" --out /tmp/run-A --init "$INIT_A" \
  --learning-rate "$LR_A" --warmup-steps 100 "${common[@]}" $WEIGHTS >"$OUT/A.log" 2>&1 &
pid_a=$!
# shellcheck disable=SC2086
"$PYTHON" -m medocr.training.portable "$PACKED" --out /tmp/run-B ${INIT_B:+--init "$INIT_B"} \
  --preset small --learning-rate "$LR_B" --warmup-steps 300 "${common[@]}" $WEIGHTS >"$OUT/B.log" 2>&1 &
pid_b=$!
status=0
wait $pid_a || status=$?
wait $pid_b || status=$?
for run in A B; do
  cp /tmp/run-$run/results.json "$OUT/$run/" 2>/dev/null || true
  cp /tmp/run-$run/best/model.keras /tmp/run-$run/best/meta.json /tmp/run-$run/best/bundle.sha256 \
    "$OUT/$run/" 2>/dev/null || true
  echo "== $run"; tail -n 4 "$OUT/$run.log"
done
exit $status

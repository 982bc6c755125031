#!/usr/bin/env bash
# Download into .whl/ the wheels scripts/gpu-recipe.sh installs on the lent GPU machine
# (CPython 3.12, x86-64, no network there): Keras and what that machine's image lacks.
set -euo pipefail
PYTHON=${PYTHON:-python3}
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  keras==3.15.1 namex==0.1.0 optree==0.20.0 rapidfuzz==3.14.6
ls -l .whl

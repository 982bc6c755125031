#!/usr/bin/env bash
# A/B of `medocr batch` speed: an older revision against this checkout, alternately.
#
# This machine's speed drifts by a third from hour to hour, so two runs an hour apart
# cannot compare two versions; runs that alternate can. Each round reads the same
# certificates with 1 worker, first with REV (a temporary git worktree, imported through
# PYTHONPATH, with its own shipped model), then with this checkout. Prints wall seconds.
#
#   bash benchmarks/bench_ab.sh REV [CERTIFICATES=120] [ROUNDS=2]
#
# Certificates come from benchmarks/_work/certs (made by bench_pipeline.py).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bash benchmarks/bench_ab.sh REV [CERTIFICATES] [ROUNDS]" >&2; exit 2; }
REV=$1
COUNT=${2:-120}
ROUNDS=${3:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
certs=$here/benchmarks/_work/certs
[ -f "$certs/cert-$(printf %06d $((COUNT - 1))).png" ] || {
  echo "bench_ab: run benchmarks/bench_pipeline.py first (it makes $certs)" >&2; exit 2; }
work=$(mktemp -d)
trap 'git -C "$here" worktree remove --force "$work/old" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$here" worktree add -q --detach "$work/old" "$REV"
if [ -f "$work/old/medocr/decode/_kernels.c" ]; then  # REV's C kernels, built as ours are
  (cd "$work/old" && python setup.py -q build_ext --inplace >/dev/null 2>&1) ||
    echo "bench_ab: REV's C kernels did not build: A decodes in Python" >&2
fi
mkdir "$work/in"
for ((i = 0; i < COUNT; i++)); do
  name=cert-$(printf %06d "$i").png
  ln -s "$certs/$name" "$work/in/$name"
done
echo "bench_ab: $COUNT certificates, 1 worker; A = $REV, B = this checkout; load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((round = 1; round <= ROUNDS; round++)); do
  for side in A B; do
    root=$here
    [ "$side" = A ] && root=$work/old
    rm -f "$work/out.db"
    start=$(date +%s.%N)
    PYTHONPATH=$root python -m medocr.cli batch "$work/in" --out "$work/out.db" --workers 1 >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "round $round $side: $(echo "$end - $start" | bc) s"
  done
done
echo "bench_ab: load at the end $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Fetch the PAGE XML schema (2019-07-15) that the export tests validate against. It ships in
# the OCR-D wheel `ocrd_validators` on PyPI; only page.xsd is kept, under .cache/schemas/.
# Without network the tests that need it are skipped with a message.
set -euo pipefail
PYTHON=${PYTHON:-.venv/bin/python}
dest=.cache/schemas
[ -s "$dest/page.xsd" ] && exit 0
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$PYTHON" -m pip download --no-deps -q -d "$tmp" ocrd_validators==2.67.1 >/dev/null 2>&1; then
    echo "fetch-schemas: could not download ocrd_validators; PAGE schema tests will be skipped" >&2
    exit 0
fi
"$PYTHON" - "$tmp" "$dest/page.xsd" <<'PY'
import pathlib
import sys
import zipfile

wheel = next(pathlib.Path(sys.argv[1]).glob("*.whl"))
pathlib.Path(sys.argv[2]).write_bytes(zipfile.ZipFile(wheel).read("ocrd_validators/page.xsd"))
PY
echo "fetch-schemas: $dest/page.xsd"

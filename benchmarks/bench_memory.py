"""Peak memory of reading hostile and very large files (issue #19: "bounded memory").

Each case runs in a fresh Python process, which resets its peak resident size after the
imports (``/proc/self/clear_refs``, Linux) and reports its resident size then and its
peak after the case, so the figures are not mixed with the imports' or this script's. Two kinds of cases:

- ``medocr.io.read_pages`` on files whose header asks for much memory (a 12000 x 12000
  RGBA PNG, a 121-byte 1 x 20000 PNG, a 30-page CCITT G4 TIFF of 137 KB);
- ``medocr.Pipeline.read`` on a synthetic certificate, as written (200 dpi) and enlarged
  to 600 dpi and to just under the reader's 150 MP page limit: the reader is bounded, and
  this measures what the rest of the pipeline adds.

The figures go to RESULTS.md, section "Peak memory of reading".

Usage::

    python benchmarks/bench_memory.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from results import record, use_data  # noqa: E402

CHILD = textwrap.dedent(
    """
    import json, sys, time
    import medocr
    from medocr.errors import MedocrError
    from medocr.io import read_pages
    kind, path = sys.argv[1], sys.argv[2]
    reader = None
    if kind == "pipeline":
        reader = medocr.Pipeline()
        reader.recognizer, reader.lexicon  # load the models before the baseline
    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset the peak (VmHWM) to the current resident size
    base = status("VmRSS")
    start = time.perf_counter()
    try:
        pages = read_pages(path) if reader is None else reader.read(path)
        outcome = f"{len(pages)} page(s) read"
    except MedocrError as exc:
        outcome = "refused: " + str(exc).split(": ", 1)[-1]
    seconds = time.perf_counter() - start
    peak = status("VmHWM")
    print(json.dumps({"base": base, "peak": peak, "seconds": seconds, "outcome": outcome}))
    """
)


def _measure(kind: str, path: Path) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def _hostile_files(folder: Path) -> list[tuple[str, Path]]:
    from PIL import Image

    rgba = folder / "rgba-12000.png"
    tile = np.zeros((12000, 12000, 4), np.uint8)
    tile[..., 3] = 255
    tile[::97, :, :3] = 40  # some structure, still compressible
    cv2.imwrite(str(rgba), tile)
    del tile
    strip = folder / "strip-1x20000.png"
    cv2.imwrite(str(strip), np.full((20000, 1), 255, np.uint8))
    fax = folder / "fax-30-pages.tif"
    page = Image.new("1", (2480, 3508), 1)
    page.save(fax, compression="group4", save_all=True, append_images=[page] * 29)
    return [
        (f"RGBA PNG 12000 x 12000 ({rgba.stat().st_size / 1e6:.1f} MB)", rgba),
        (f"PNG 1 x 20000 ({strip.stat().st_size} bytes)", strip),
        (f"G4 TIFF, 30 pages of A4 at 300 dpi ({fax.stat().st_size / 1e3:.0f} KB)", fax),
    ]


def _certificates(folder: Path) -> list[tuple[str, Path]]:
    from medocr.synth.runner import write_certificate
    from medocr.templates import load_template

    write_certificate(folder, 5, 0, load_template(), "png")
    original = cv2.imread(str(folder / "cert-000000.png"), cv2.IMREAD_GRAYSCALE)
    height, width = original.shape
    limit_scale = (149e6 / (width * height)) ** 0.5
    cases = [
        ("certificate as generated (200 dpi)", 1.0),
        ("certificate enlarged x3 (600 dpi)", 3.0),
        ("certificate enlarged to the 150 MP page limit", limit_scale),
    ]
    files = []
    for index, (label, scale) in enumerate(cases):
        path = folder / f"certificate-{index}.png"
        image = cv2.resize(original, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        cv2.imwrite(str(path), image)
        h, w = image.shape
        files.append((f"{label}: {w} x {h} ({w * h / 1e6:.0f} MP)", path))
    return files


def main() -> None:
    """Measure every case and record the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    use_data()  # the sampler's CIM-10 words: $MEDOCR_DATA, else ../shared/data
    rows = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = [("read_pages", label, path) for label, path in _hostile_files(folder)]
        cases += [("Pipeline.read", label, path) for label, path in _certificates(folder)]
        for api, label, path in cases:
            start = time.perf_counter()
            figures = _measure("pipeline" if api == "Pipeline.read" else "read", path)
            print(f"{api} {label}: {figures} ({time.perf_counter() - start:.0f} s)")
            rows.append(
                f"| `{api}` | {label} | {figures['outcome'][:70]} | "
                f"{figures['base'] / 1024:.0f} | {figures['peak'] / 1024:.0f} | "
                f"{(figures['peak'] - figures['base']) / 1024:.0f} | {figures['seconds']:.1f} |"
            )
    body = (
        "Resident size of a fresh process (MiB) before the case (imports, and for\n"
        "`Pipeline.read` the loaded models), its peak during the case, and the difference. Issue #19 asks for at most 1.5 GB\n"
        f"whatever the header says. Load average at the start: {load:.1f}.\n\n"
        "| API | file | outcome | before | peak | added | seconds |\n"
        "|---|---|---|---:|---:|---:|---:|\n" + "\n".join(rows)
    )
    print(body)
    if not args.no_record:
        record("memory", "Peak memory of reading", body)
        print("recorded in benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()

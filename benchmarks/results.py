"""Shared helper of the benchmarks: write one section of benchmarks/RESULTS.md.

Each benchmark owns a section delimited by ``<!-- bench:NAME -->`` markers and replaces
it in place, with the machine, the date and the command that produced the figures.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import shlex
import sys
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
#: The shared data folder beside the repository: the benchmarks' data when MEDOCR_DATA is unset.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HEADER = (
    "# Benchmark results\n\nEvery figure here is written by a script in `benchmarks/`; "
    "rerun the command shown to reproduce it.\n"
)


def machine() -> str:
    """One line describing this machine: CPU model, cores, RAM, Python."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{model}, {os.cpu_count()} cores{memory}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, e.g. ``"0.52, 0.61, 0.70 on 2 cores"``."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{load} on {os.cpu_count()} cores"


def record(name: str, title: str, body: str) -> None:
    """Replace (or append) the section `name` of RESULTS.md with `body`."""
    command = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- bench:{name} -->\n## {title}\n\n- machine: {machine()}\n- date: {stamp}\n"
        f"- command: `{command}`\n\n{body.strip()}\n<!-- /bench:{name} -->"
    )
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else HEADER
    pattern = re.compile(
        rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S
    )
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else f"{text.rstrip()}\n\n{section}\n"
    )
    RESULTS.write_text(text, encoding="utf-8")


def use_data(folder: str | os.PathLike[str] | None = None) -> Path:
    """Name the data folder explicitly: set ``MEDOCR_DATA`` and return it.

    medocr never guesses a data folder, so the benchmarks that synthesize certificates
    or lines say which one their sampler draws CIM-10 words from (as their recorded
    figures did): `folder`, else ``$MEDOCR_DATA``, else :data:`SHARED_DATA`. Child
    processes inherit it.
    """
    chosen = Path(folder or os.environ.get("MEDOCR_DATA") or SHARED_DATA)
    os.environ["MEDOCR_DATA"] = str(chosen)
    return chosen

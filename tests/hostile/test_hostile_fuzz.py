"""Fuzz medocr.io.read_pages: mutated PNG, JPEG, TIFF and BMP files, drawn by Hypothesis.

The seed files, the mutations (bit flips, byte and integer overwrites, truncation,
insertion, deletion, duplication, header-field edits that re-seal PNG CRCs) and the
check of one case live in ``scripts/fuzz_images.py``, which ``make fuzz`` runs for a
million cases. Each case must give well-formed pages (``uint8``, 2-D, C-contiguous) or
an InputError, nothing else, and its peak resident memory may grow by at most
``MEMORY_BOUND`` (``max_memory`` = 64 MiB plus allocator slack).

The number of cases (default 10,000, split over the four formats) is set by the
MEDOCR_FUZZ_CASES environment variable; Hypothesis is derandomised, so a run is
reproducible.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fuzz_images.py"
CASES = int(os.environ.get("MEDOCR_FUZZ_CASES", "10000"))
FORMATS = ("png", "jpeg", "tiff", "bmp")


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_images", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fuzz = load_script()
SEEDS = fuzz.seeds()
MUTATIONS = st.lists(
    st.tuples(st.sampled_from(fuzz.OPS), st.integers(0, 2**16 - 1), st.integers(0, 2**32 - 1)),
    min_size=1,
    max_size=4,
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One scratch file, rewritten by every case (in RAM when /dev/shm exists)."""
    root = fuzz.scratch_root()
    if root is None:
        yield tmp_path_factory.mktemp("fuzz") / "case"
        return
    folder = tempfile.mkdtemp(prefix="medocr-fuzz-", dir=root)
    try:
        yield Path(folder) / "case"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_every_format_has_seeds() -> None:
    names = [name for name, _ in SEEDS]
    assert all(sum(name.startswith(fmt) for name in names) >= 4 for fmt in FORMATS)


def test_mutation_is_deterministic() -> None:
    data = SEEDS[0][1]
    steps = [("flip", 40, 3), ("insert", 100, 77), ("header", 1, 20000), ("truncate", 300, 0)]
    assert fuzz.mutate(data, steps) == fuzz.mutate(data, steps)
    assert fuzz.mutate(data, steps) != data


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_mutated_files_give_pages_or_input_error(fmt: str, scratch: Path) -> None:
    files = [data for name, data in SEEDS if name.startswith(fmt)]
    examples = max(1, CASES // len(FORMATS))
    outcomes: Counter[str] = Counter()

    @settings(
        derandomize=True,
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(index=st.integers(0, len(files) - 1), mutations=MUTATIONS)
    def case(index: int, mutations: list[tuple[str, int, int]]) -> None:
        outcomes[fuzz.check_case(scratch, fuzz.mutate(files[index], mutations))] += 1

    case()
    assert sum(outcomes.values()) >= examples
    if examples >= 100:  # the mutations neither break every file nor leave them all intact
        assert outcomes["pages"] >= examples // 50, outcomes
        assert outcomes["InputError"] >= examples // 50, outcomes


@pytest.mark.slow
def test_fuzz_script_runs_and_reports(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--cases", "300", "--workers", "2", "--slice", "100"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("fuzz_images: 300 cases in "), summary
    assert summary.endswith(" 0 failures"), summary

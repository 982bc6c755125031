"""Import layers: no arrow runs back up, and no package import cycle (docs/architecture.md).

Every module of ``medocr/`` is parsed (``ast``, nothing is imported) and each of its
``medocr.*`` imports is an arrow, whether at module level or inside a function; imports
under ``if TYPE_CHECKING:`` are not executed and do not count. A module belongs to the layer
of the longest entry of :data:`LAYERS` that names it or a package above it. An arrow may
point to the same layer or a lower one, never to a higher one.

Package cycles are counted between *packages*: ``medocr.X`` for every top-level module or
subpackage ``X`` (``medocr.recognize.crnn`` belongs to ``medocr.recognize``), over the
same arrows. Within a package, modules may import each other freely.

:data:`ALLOWED_EXCEPTIONS` lists the arrows that still break these rules, each with the
refactor that removes it; the test fails when one of them is no longer in the code, so the
list only shrinks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "medocr"

#: The layers, lowest first. A module may import its own layer and the ones before it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Plain data, text and files; no medocr import outside this layer. ``medocr`` is the
    # package root alone (its lazy API names higher modules only as strings).
    ("core", (
        "medocr", "medocr._version", "medocr._lazy", "medocr.errors", "medocr.text", "medocr.types",
        "medocr.geometry", "medocr.fileio",
    )),
    # What medocr reads and knows: images, configuration, bundles, templates, lexicons,
    # the CIM-10 labels file, the grammar of intervals and dates, the stored confidence
    # calibration.
    ("resources", (
        "medocr.io", "medocr.config", "medocr.bundles", "medocr.templates", "medocr.lexicon",
        "medocr.cim10", "medocr.grammar", "medocr.calibration",
    )),
    ("preprocess", ("medocr.preprocess",)),
    ("recognize", ("medocr.recognize", "medocr.classify")),
    ("decode", ("medocr.decode", "medocr.classify.segpath")),
    ("pipeline", ("medocr.fields", "medocr.pipeline")),
    # What uses the pipeline or makes data for it. The fr-medical build trains its bigrams
    # on the synthetic phrase sampler: it sits here, above the rest of medocr.lexicon.
    ("apps", (
        "medocr.batch", "medocr.evaluate", "medocr.dataset", "medocr.exports", "medocr.synth",
        "medocr.lexicon.build", "medocr.review",
    )),
    # Fitting models: they read datasets and score with evaluate's metrics. The recognizer's
    # trainers have their own package (medocr.training) so that medocr.recognize, which the
    # pipeline runs, never imports dataset or evaluate.
    ("training", ("medocr.training", "medocr.classify.train")),
    # The command line: the medocr.cli package (one module per verb, what they share in
    # medocr.cli._common) and the old path medocr.lexicon_cli.
    ("cli", ("medocr.cli", "medocr.lexicon_cli")),
)  # fmt: skip

#: Arrows (importing module, imported module) that still break the rules, until the
#: refactor named beside each lands. Remove an entry when its arrow is gone. Empty: every
#: arrow keeps to the layers and no package import cycle is left; an entry added here must
#: say which refactor removes it.
ALLOWED_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Arrow:
    """One import: `source` imports `target`, at `path`:`line`."""

    source: str
    target: str
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.source} -> {self.target}"

    @property
    def source_package(self) -> str:
        """The package the arrow leaves (see :func:`package_of`)."""
        return package_of(self.source)


# ---------------------------------------------------------------------------------------------
# The checker.
# ---------------------------------------------------------------------------------------------


def module_name(path: Path, package_dir: Path) -> str:
    """Dotted name of the module at `path` in the package rooted at `package_dir`."""
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    """Every import statement of `tree`, at any depth, except under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _targets(node: ast.Import | ast.ImportFrom, source: str, is_package: bool) -> list[str]:
    """Module names `node` imports (``from X import name`` gives ``X.name`` or ``X``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = source.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join(parts[:keep] + ([node.module] if node.module else []))
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def collect_arrows(package_dir: Path) -> tuple[set[str], list[Arrow]]:
    """Parse every module under `package_dir`; return its modules and ``medocr`` arrows.

    ``from X import name`` points to ``X.name`` when that is a module, else to ``X``.
    """
    files = sorted(package_dir.rglob("*.py"))
    modules = {module_name(path, package_dir) for path in files}
    root = package_dir.name
    arrows = []
    for path in files:
        source = module_name(path, package_dir)
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        shown = path.relative_to(package_dir.parent).as_posix()
        for node in _imports(tree):
            names = _targets(node, source, path.name == "__init__.py")
            if isinstance(node, ast.ImportFrom):
                submodules = [name for name in names[:-1] if name in modules]
                names = submodules or names[-1:]
            for target in names:
                if (target == root or target.startswith(root + ".")) and target != source:
                    arrows.append(Arrow(source, target, shown, node.lineno))
    return modules, sorted(arrows, key=lambda a: (a.path, a.line, a.target))


def layer_of(module: str, layers: Sequence[tuple[str, Sequence[str]]]) -> int | None:
    """Index in `layers` of the longest entry naming `module` or a package above it.

    The root package (the first component) matches itself only.
    """
    best: tuple[int, int] | None = None
    for index, (_, entries) in enumerate(layers):
        for entry in entries:
            covers = module == entry or ("." in entry and module.startswith(entry + "."))
            if covers and (best is None or len(entry) > best[1]):
                best = (index, len(entry))
    return None if best is None else best[0]


def unplaced(modules: Iterable[str], layers: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    """The modules no layer names."""
    return sorted(m for m in modules if layer_of(m, layers) is None)


def back_arrows(
    arrows: Iterable[Arrow],
    layers: Sequence[tuple[str, Sequence[str]]],
    allowed: frozenset[tuple[str, str]] = frozenset(),
) -> list[str]:
    """Describe every arrow from a lower layer to a higher one that `allowed` does not list."""
    found = []
    for arrow in arrows:
        low, high = layer_of(arrow.source, layers), layer_of(arrow.target, layers)
        if low is None or high is None or high <= low:
            continue
        if (arrow.source, arrow.target) in allowed:
            continue
        found.append(
            f"{arrow} runs back up: {arrow.source} is in layer {layers[low][0]!r}, "
            f"{arrow.target} in the higher layer {layers[high][0]!r}"
        )
    return found


def package_of(module: str) -> str:
    """``medocr.X`` for any module of ``medocr/X``; the root package for itself."""
    return ".".join(module.split(".")[:2])


def package_cycles(
    arrows: Iterable[Arrow], allowed: frozenset[tuple[str, str]] = frozenset()
) -> list[str]:
    """Describe every strongly connected set of packages (two or more), with its arrows."""
    edges: dict[str, dict[str, Arrow]] = {}
    for arrow in arrows:
        a, b = package_of(arrow.source), package_of(arrow.target)
        if a != b and (arrow.source, arrow.target) not in allowed:
            edges.setdefault(a, {}).setdefault(b, arrow)
    reach = {node: _reachable(node, edges) for node in edges}
    seen: set[str] = set()
    found = []
    for node in sorted(edges):
        if node in seen:
            continue
        group = sorted(n for n in reach[node] if node in reach.get(n, ()))
        if len(group) < 2:
            continue
        seen.update(group)
        path = "; ".join(str(a) for a in _shortest_cycle(group[0], edges))
        found.append(f"cycle between {', '.join(group)}, for one: {path}")
    return found


def _shortest_cycle(start: str, edges: Mapping[str, Mapping[str, Arrow]]) -> list[Arrow]:
    """The arrows of a shortest cycle through `start` (breadth first, names in order)."""
    previous: dict[str, Arrow] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt, arrow in sorted(edges.get(node, {}).items()):
            if nxt == start:
                cycle = [arrow]
                while node != start:
                    cycle.append(previous[node])
                    node = previous[node].source_package
                return cycle[::-1]
            if nxt not in previous:
                previous[nxt] = arrow
                queue.append(nxt)
    return []


def _reachable(start: str, edges: Mapping[str, Mapping[str, Arrow]]) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for nxt in edges.get(stack.pop(), {}):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


# ---------------------------------------------------------------------------------------------
# The rules on medocr.
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def medocr_arrows() -> tuple[set[str], list[Arrow]]:
    return collect_arrows(PACKAGE_DIR)


def test_every_module_has_a_layer(medocr_arrows):
    modules, _ = medocr_arrows
    missing = unplaced(modules, LAYERS)
    assert not missing, f"add these modules to LAYERS in {__file__}: {missing}"


def test_no_import_runs_back_up_a_layer(medocr_arrows):
    _, arrows = medocr_arrows
    found = back_arrows(arrows, LAYERS, ALLOWED_EXCEPTIONS)
    assert not found, "\n".join(["imports against the layers (docs/architecture.md):", *found])


def test_no_package_import_cycles(medocr_arrows):
    _, arrows = medocr_arrows
    found = package_cycles(arrows, ALLOWED_EXCEPTIONS)
    assert not found, "\n".join(["package import cycles:", *found])


def test_allowed_exceptions_are_still_needed(medocr_arrows):
    modules, arrows = medocr_arrows
    present = {(a.source, a.target) for a in arrows}
    stale = sorted(ALLOWED_EXCEPTIONS - present)
    assert not stale, f"these arrows are gone: remove them from ALLOWED_EXCEPTIONS: {stale}"
    for source, target in ALLOWED_EXCEPTIONS:
        assert source in modules and target in modules


def test_the_core_imports_only_the_core(medocr_arrows):
    """No exception may ever be allowed here: the core text layer stays at the bottom."""
    _, arrows = medocr_arrows
    core = 0
    assert LAYERS[core][0] == "core"
    outside = [
        str(a) for a in arrows if layer_of(a.source, LAYERS) == core != layer_of(a.target, LAYERS)
    ]
    assert not outside, outside


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("medocr", "core"),
        ("medocr.text", "core"),
        ("medocr.recognize.alphabet", "recognize"),
        ("medocr.classify.segpath", "decode"),
        ("medocr.training", "training"),
        ("medocr.training.recognizer", "training"),
        ("medocr.training.portable", "training"),
        ("medocr.classify.train", "training"),
        ("medocr.classify.data", "recognize"),
        ("medocr.cli", "cli"),
    ],
)
def test_layer_table(module, layer):
    index = layer_of(module, LAYERS)
    assert index is not None and LAYERS[index][0] == layer
    assert layer_of("medocr.nope", LAYERS) is None  # the root names itself only


# ---------------------------------------------------------------------------------------------
# The checker on synthetic packages: it must see what it is meant to see.
# ---------------------------------------------------------------------------------------------

TOY_LAYERS = (
    ("low", ("pkg", "pkg.base", "pkg.util")),
    ("mid", ("pkg.engine",)),
    ("high", ("pkg.app",)),
)


def _toy_package(tmp_path: Path, files: Mapping[str, str]) -> Path:
    package = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return package


def test_checker_reports_back_arrows_with_file_and_line(tmp_path):
    package = _toy_package(
        tmp_path,
        {
            "base.py": (
                "from typing import TYPE_CHECKING\n"
                "import pkg.util\n"
                "if TYPE_CHECKING:\n"
                "    from pkg.app import App\n"  # not executed: exempt
                "def run():\n"
                "    from pkg.engine import go\n"  # function-level: counts
                "    return go\n"
            ),
            "util.py": "",
            "engine/__init__.py": "from . import core\n",
            "engine/core.py": "from ..app import main\n",  # relative, back up
            "app.py": "from pkg.engine import core\nfrom pkg import base\n",
        },
    )
    modules, arrows = collect_arrows(package)
    assert modules == {"pkg", "pkg.base", "pkg.util", "pkg.engine", "pkg.engine.core", "pkg.app"}
    assert {(a.source, a.target) for a in arrows} == {
        ("pkg.base", "pkg.util"),
        ("pkg.base", "pkg.engine"),
        ("pkg.engine", "pkg.engine.core"),
        ("pkg.engine.core", "pkg.app"),
        ("pkg.app", "pkg.engine.core"),
        ("pkg.app", "pkg.base"),
    }
    found = back_arrows(arrows, TOY_LAYERS)
    assert found == [
        "pkg/base.py:6: pkg.base -> pkg.engine runs back up: pkg.base is in layer 'low', "
        "pkg.engine in the higher layer 'mid'",
        "pkg/engine/core.py:1: pkg.engine.core -> pkg.app runs back up: pkg.engine.core is in "
        "layer 'mid', pkg.app in the higher layer 'high'",
    ]
    allowed = frozenset({("pkg.base", "pkg.engine")})
    assert len(back_arrows(arrows, TOY_LAYERS, allowed)) == 1
    assert unplaced(modules | {"pkg.extra"}, TOY_LAYERS) == ["pkg.extra"]


def test_checker_finds_package_cycles(tmp_path):
    package = _toy_package(
        tmp_path,
        {
            "base.py": "import pkg.util\n",
            "util.py": "def f():\n    import pkg.app\n",
            "app.py": "from pkg import base\n",
            "engine/__init__.py": "from pkg.engine import core\n",  # inside one package
            "engine/core.py": "import pkg.engine\n",
        },
    )
    _, arrows = collect_arrows(package)
    found = package_cycles(arrows)
    assert found == [
        "cycle between pkg.app, pkg.base, pkg.util, for one: pkg/app.py:1: pkg.app -> pkg.base; "
        "pkg/base.py:1: pkg.base -> pkg.util; pkg/util.py:2: pkg.util -> pkg.app"
    ]
    assert package_cycles(arrows, frozenset({("pkg.util", "pkg.app")})) == []

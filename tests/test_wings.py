"""The core's wings import one way (issue 27): inputs <- model <- answers <- evaluation <- runs <- report / viz <- the
command line, the dashboard; the shared modules (errors, host_memory, progress, threads, version) import no wing; and no module
imports itself back through a circle. Every import counts, those inside functions and ``TYPE_CHECKING`` blocks too.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import networkx as nx
import pytest

CORE = Path(__file__).resolve().parents[1] / "mtlgrn_core"
SHARED = {"errors", "host_memory", "progress", "threads", "version"}
RANK = {"inputs": 0, "model": 1, "answers": 2, "evaluation": 3, "runs": 4, "report": 5, "viz": 5, "cli": 6,
        "__init__": 6, "__main__": 6}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(CORE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """The mtlgrn_core modules ``path`` imports (``from a import b``: ``a.b`` when that is a module, else ``a``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if _is_module(candidate) else base)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {m for m in found if m == "mtlgrn_core" or m.startswith("mtlgrn_core.")}


def _is_module(name: str) -> bool:
    path = CORE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def wing(module: str) -> str:
    """``mtlgrn_core.model.train`` -> ``model``; a shared module -> ``shared``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return "shared" if parts[1] in SHARED else parts[1]


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for path in CORE.rglob("*.py"):
        source = module_name(path)
        graph.add_node(source)
        graph.add_edges_from((source, target) for target in imported_modules(path) if target != source)
    return graph


def test_every_core_module_lies_in_a_wing_or_is_shared():
    loose = sorted(m for m in import_graph() if wing(m) not in RANK and wing(m) != "shared")
    assert not loose, f"modules outside the wings: {loose}"


def test_imports_run_one_way_between_the_wings():
    against = []
    for source, target in import_graph().edges:
        if target == "mtlgrn_core" and source != "mtlgrn_core.__main__":
            against.append((source, target))  # the package's API is for users, not for its own modules
            continue
        from_wing, to_wing = wing(source), wing(target)
        if to_wing == "shared" or from_wing == to_wing or target == "mtlgrn_core":
            continue
        if from_wing == "shared" or RANK[to_wing] > RANK[from_wing]:
            against.append((source, target))
    assert not against, "imports against the wings' direction:\n" + "\n".join(f"{s} -> {t}" for s, t in against)


def test_no_import_circle():
    cycles = list(nx.simple_cycles(import_graph().subgraph(
        [m for m in import_graph() if m != "mtlgrn_core"])))
    assert not cycles, f"import circles: {cycles[:5]}"


@pytest.mark.parametrize("name", ["inputs", "model", "answers", "evaluation", "runs", "report"])
def test_each_wing_says_what_it_is_for_and_what_it_offers(name):
    doc = ast.get_docstring(ast.parse((CORE / name / "__init__.py").read_text()))
    assert doc and len(doc.splitlines()[0]) > 20
    offered = {p.stem for p in (CORE / name).glob("*.py") if p.stem != "__init__"}
    assert all(f":mod:`.{m}`" in doc for m in offered), sorted(m for m in offered if f":mod:`.{m}`" not in doc)


DOTTED_NAME = re.compile(r"mtlgrn_core(?:\.[A-Za-z_]\w*)+")


def _resolves(dotted: str) -> bool:
    """Whether ``dotted`` names a module, or an attribute reached from the longest module it starts with."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        for attribute in parts[end:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def test_every_dotted_core_name_in_the_docs_and_docstrings_still_exists():
    """A module moved to a wing leaves no reference to its old place (``mtlgrn_core.evaluate.LinearModel``)."""
    root = CORE.parent
    texts = [*CORE.rglob("*.py"), *(root / "bench").glob("*.py"), *(root / "docs").glob("*.md"),
             root / "README.md", root / "bench" / "README.md", *(root / "mtlgrn_ui").rglob("*.py")]
    stale = {}
    for path in texts:
        for dotted in DOTTED_NAME.findall(path.read_text()):
            if not _resolves(dotted):
                stale.setdefault(dotted, path.relative_to(root).as_posix())
    assert not stale, f"names that no longer exist (name: first file): {stale}"

"""The architecture holds: the import-linter contracts pass and the apps import each other without a cycle.

`.importlinter` writes the layers down (README.md, "Architecture"); these tests fail when a change breaks
them, so the suite catches what `make lint` catches.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]
APPS = (
    "core",
    "accounts",
    "audit",
    "branding",
    "signing",
    "certificates",
    "integrations",
    "workflows",
    "office",
    "reports",
    "dsign",
)


def test_import_linter_contracts_are_kept():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _app_edges() -> dict[str, set[str]]:
    graph = grimp.build_graph(*APPS, cache_dir=None)
    edges: dict[str, set[str]] = {app: set() for app in APPS}
    for importer in APPS:
        for imported in APPS:
            if importer != imported and graph.direct_import_exists(
                importer=importer, imported=imported, as_packages=True
            ):
                edges[importer].add(imported)
    return edges


def test_the_app_level_import_graph_has_no_cycle():
    edges = _app_edges()
    try:
        order = list(TopologicalSorter(edges).static_order())
    except CycleError as exc:  # pragma: no cover - the message names the cycle
        raise AssertionError(f"apps import each other in a cycle: {' -> '.join(exc.args[1])}") from exc
    assert order and not edges["core"], "core imports no app"


def test_only_core_hsm_imports_pkcs11():
    """pyHanko's PKCS#11 signer counts too: the HSM package (its session pool) is the one door to the token."""
    importers = []
    for path in REPO.glob("*/**/*.py"):
        relative = path.relative_to(REPO)
        if relative.parts[0] in (".venv", "node_modules", "tests", "bench") or "migrations" in relative.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == "pkcs11" or name.startswith("pkcs11.") or name == "pyhanko.sign.pkcs11" for name in names):
                importers.append(str(relative))
    assert importers and all(Path(importer).parts[:2] == ("core", "hsm") for importer in importers), importers

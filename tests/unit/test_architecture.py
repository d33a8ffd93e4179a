"""The layers of README's "Architecture" hold: imports point down, and only app/ touches Hydra, OmegaConf, MLflow."""
import ast
from pathlib import Path

import pytest

from helpers.paths import ROOT

PACKAGE = ROOT / "src" / "attnhuman"
# layer -> the layers it may import (besides itself)
BOTTOM = {"errors", "shapes", "identity", "metrics", "corpus", "__version__"}
ALLOWED = {
    "errors": set(), "shapes": set(), "identity": set(), "metrics": set(), "corpus": {"errors"},
    "humans": BOTTOM,
    "attention": BOTTOM,
    "analysis": BOTTOM | {"humans", "attention"},
    "comparison": BOTTOM | {"humans", "attention", "analysis"},
    "reporting": BOTTOM | {"humans", "attention", "analysis", "comparison"},
    "app": BOTTOM | {"humans", "attention", "analysis", "comparison", "reporting"},
}
APP_ONLY = ("hydra", "omegaconf", "mlflow")


def _imports(path: Path) -> list[tuple[str, bool]]:
    """``(module, inside a function)`` of every import in ``path`` (``from attnhuman import identity``: the module
    ``attnhuman.identity``)."""
    found = []

    def visit(node, nested):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((a.name, nested) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module == "attnhuman":
                found.extend((f"attnhuman.{a.name}", nested) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                found.append((child.module, nested))
            visit(child, nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(ast.parse(path.read_text()), False)
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    layer = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    for module, nested in _imports(path):
        parts = module.split(".")
        if parts[0] == "attnhuman" and len(parts) > 1:
            target = parts[1]
            assert not nested, f"{path.name} imports {module} inside a function"
            assert target == layer or target in ALLOWED[layer], f"{layer} must not import {module}"
        if parts[0] in APP_ONLY:
            assert layer == "app", f"{path.relative_to(PACKAGE)} imports {module}: only app/ may"

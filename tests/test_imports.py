"""Every ``from <our package> import name`` in the code resolves, the lazy ones inside functions included: a
module moved or a name renamed breaks a benchmark or a rarely taken path long before anything runs it (the
serving benchmark imported ``worker_pids`` from where it no longer was)."""
from __future__ import annotations

import ast
import importlib
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("analysis", "services", "components", "reports", "benchmarks", "tests")
FOLDERS = ("analysis", "services", "components", "reports", "pages", "benchmarks", "scripts", "tests")


@lru_cache(maxsize=1)
def _imports() -> tuple:
    return tuple(_scan())


def _scan():
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                        and node.module.split(".")[0] in OURS:
                    yield path.relative_to(ROOT), node.lineno, node.module, [a.name for a in node.names]


def test_the_scan_finds_the_lazy_imports():
    found = {(str(p), m) for p, _line, m, _names in _imports()}
    assert ("benchmarks/serving.py", "tests.support.adversarial") in found       # inside a function
    assert len(found) > 300


@pytest.mark.parametrize("module", sorted({m for _p, _l, m, _n in _imports()}))
def test_every_imported_name_exists(module):
    mod = importlib.import_module(module)
    missing = []
    for path, line, m, names in _imports():
        if m != module:
            continue
        for name in names:
            if name != "*" and not hasattr(mod, name):
                try:
                    importlib.import_module(f"{module}.{name}")
                except ImportError:
                    missing.append(f"{path}:{line} imports {name!r} from {module}")
    assert not missing, missing

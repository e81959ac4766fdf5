"""The baseline package (baselines/mura_baseline) imports mura_bench only through its public modules.

The baseline needs torch, so it is not installed beside the core and import-linter cannot see it
from the core environment; this test reads its imports instead (every ``import`` statement,
type-checking and function-level ones included).
"""

from __future__ import annotations

import ast
from pathlib import Path

BASELINE = Path(__file__).resolve().parent.parent / "baselines" / "mura_baseline"

#: What mura_bench offers to other packages: the root's lazy API, the error classes, ``Result``, the
#: model plugin API, the MURA folder layout that plugins are handed, and the synthetic generator.
PUBLIC = {
    "mura_bench",
    "mura_bench.errors",
    "mura_bench.results",
    "mura_bench.models",
    "mura_bench.models.protocol",
    "mura_bench.models.registry",
    "mura_bench.data.layout",
    "mura_bench.synth",
}

#: Internal modules the baseline still uses, each named so that no new one creeps in unnoticed
#: (and so that the list shrinks when one is replaced).
KNOWN_INTERNAL = {
    ("cli.py", "mura_bench.io.terminal"),
    ("evaluation.py", "mura_bench.stats.metrics"),
}


def mura_bench_imports() -> set[tuple[str, str]]:
    found = set()
    for path in sorted(BASELINE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            else:
                continue
            for module in modules:
                if module == "mura_bench" or module.startswith("mura_bench."):
                    found.add((path.relative_to(BASELINE).as_posix(), module))
    return found


def test_the_baseline_imports_only_public_modules():
    internal = {(path, module) for path, module in mura_bench_imports() if module not in PUBLIC}
    assert internal == KNOWN_INTERNAL


def test_the_baseline_imports_nothing_private():
    private = set()
    for path in sorted(BASELINE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mura_bench"):
                private |= {(path.name, node.module, a.name) for a in node.names if a.name.startswith("_")}
    assert private == set()

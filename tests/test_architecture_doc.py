"""docs/architecture.md names every subpackage of mura_bench, and only subpackages that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"


def subpackages() -> set[str]:
    return {p.name for p in (ROOT / "mura_bench").iterdir() if p.is_dir() and p.name != "__pycache__"}


def described() -> set[str]:
    return set(re.findall(r"^- `mura_bench/(\w+)/`:", DOC.read_text(encoding="utf-8"), flags=re.M))


def diagram() -> set[str]:
    block = DOC.read_text(encoding="utf-8").split("```")[1]
    names = set()
    for line in block.strip().splitlines():
        layer = re.split(r"\s{2,}", line.strip())[0]
        names.update(n.strip() for n in re.split(r"[|:]", layer))
    return names


def test_every_subpackage_is_described_and_every_description_exists():
    assert described() == subpackages()


def test_the_layer_diagram_matches_the_import_contract():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    contract = re.search(r"layers = \[(.*?)\]", pyproject, flags=re.S).group(1)
    layers = [layer for layer in re.findall(r'"([^"]+)"', contract)]
    names = {n.strip() for layer in layers for n in re.split(r"[|:]", layer)}
    assert diagram() == names
    modules = {p.stem for p in (ROOT / "mura_bench").glob("*.py")} - {"__init__"}
    assert names == (subpackages() - {"schemas"}) | modules

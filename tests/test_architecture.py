"""Imports point one way (STYLE.md): cli -> api -> {config, live, report, bootlab}
-> {solver, hypervisors, kernel, evidence} -> {units, errors}. Nothing imports cli."""

import ast
from pathlib import Path

#: the source tree (not the installed copy, which also holds the profiles and templates data packages)
PACKAGE = Path(__file__).resolve().parents[1] / "planner"

#: top-level module or subpackage of planner -> rank; a module may import only lower ranks
#: (or modules of its own subpackage)
RANK = {
    "__init__": 0,
    "errors": 0,
    "units": 1,
    "files": 1,
    "evidence": 2,
    "kernel": 3,
    "hypervisors": 3,
    "inputs": 4,
    "live": 4,
    "bootlab": 4,
    "capacity": 5,
    "results": 6,
    "report": 7,
    "workflows": 8,
    "api": 9,
    "cli_support": 9,
    "cli": 10,
    "__main__": 11,
}


def _unit(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imported_units(tree: ast.AST) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "planner" and len(parts) > 1:
                out.add(parts[1])
    return out


def test_imports_point_one_way() -> None:
    problems = []
    files = sorted(PACKAGE.rglob("*.py"))
    assert files, "no planner sources found"
    for path in files:
        unit = _unit(path)
        assert unit in RANK, f"{path}: add {unit!r} to RANK in this test"
        for target in _imported_units(ast.parse(path.read_text(), str(path))):
            if target == unit or (target == "__init__" and unit != "__init__"):
                continue
            if target not in RANK:
                continue  # planner.__version__ and friends
            if RANK[target] >= RANK[unit]:
                problems.append(f"{path.relative_to(PACKAGE)} imports planner.{target}")
    assert not problems, "upward or sideways imports: " + "; ".join(problems)


def test_only_live_imports_libvirt() -> None:
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name == "libvirt" for a in node.names):
                assert _unit(path) == "live", f"{path} imports libvirt"

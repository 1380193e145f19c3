"""Imports point one way, modules and functions stay small, reports take typed results.

The layers, lowest first (STYLE.md "Imports point one way"; README "Layout"):
errors < units, files < evidence < kernel, hypervisors < inputs, live, bootlab (what the
planner reads: files, libvirt, qemu) < capacity < results < report < workflows < api,
cli_support < cli_density, cli_tune (commands kept out of cli.py) < cli. A module may import
only lower layers or its own package; nothing imports cli."""

import ast
import re
from pathlib import Path

#: the source tree (not the installed copy, which also holds the profiles and templates data packages)
PACKAGE = Path(__file__).resolve().parents[1] / "planner"

#: top-level module or subpackage of planner -> rank; a module may import only lower ranks
#: (or modules of its own subpackage); equal ranks are siblings that do not import each other
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
    "cli_density": 10,
    "cli_fleet": 10,
    "cli_tune": 10,
    "cli": 11,
    "__main__": 12,
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


# --- size ---------------------------------------------------------------------------------------
MAX_MODULE_LINES = 500
#: lines of a function, its docstring not counted
MAX_FUNCTION_LINES = 60


def _function_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    assert node.end_lineno is not None
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        assert first.end_lineno is not None
        lines -= first.end_lineno - first.lineno + 1
    return lines


def test_no_module_over_500_lines() -> None:
    long = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        count = len(path.read_text().splitlines())
        if count > MAX_MODULE_LINES:
            long[rel] = count
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_over_60_lines() -> None:
    long = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                count = _function_lines(node)
                if count > MAX_FUNCTION_LINES:
                    long[f"{rel}:{node.lineno} {node.name}"] = count
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines (docstring apart): {long}"


def test_reports_and_results_take_no_any() -> None:
    """Reports and results are typed end to end (mypy --strict checks them): no parameter is
    ``Any``, except the matplotlib handles that charts.py passes around (matplotlib is untyped)."""
    untyped = []
    for folder in ("report", "results"):
        for path in sorted((PACKAGE / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.FunctionDef):
                    continue
                for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
                    if isinstance(arg.annotation, ast.Name) and arg.annotation.id == "Any":
                        if path.name == "charts.py" and arg.arg in {"ax", "fig", "plt"}:
                            continue
                        untyped.append(f"{folder}/{path.name}:{node.lineno} {node.name}({arg.arg})")
    assert not untyped, f"parameters typed Any: {untyped}"


def test_result_fields_are_not_any() -> None:
    """Every field of a result names its type (issue 15: "no Any for results"); only ``to_json``
    returns plain JSON data."""
    loose = []
    for path in sorted((PACKAGE / "results").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ClassDef):
                continue
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and re.search(r"\bAny\b", ast.unparse(item.annotation)):
                    loose.append(f"results/{path.name}:{item.lineno} {node.name}.{ast.unparse(item.target)}")
    assert not loose, f"result fields typed with Any: {loose}"


#: what a report may take from the layers below it: types and pure helpers, never a reader,
#: the kernel model's predictions, the demand builder or the solver (results carry all that)
REPORT_MAY_IMPORT = {
    "planner.capacity.binding": {"binding_kind", "binding_text", "natural_key"},
    "planner.hypervisors": {"HypervisorProfile"},
    "planner.inputs.specs": {"GuestProfile", "Scenario"},
    "planner.kernel.calibration": {"Calibration"},
    "planner.kernel.model": {"Prediction"},
}


def test_reports_never_read_inputs_model_or_solve() -> None:
    """Issue 15: the fit report reloaded the host file and reran the kernel model and the solver;
    now every report is built from its result alone."""
    found = []
    for path in sorted((PACKAGE / "report").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                continue
            module = node.module
            layer = module.split(".")[1] if module.startswith("planner.") else ""
            if not layer or layer in {"report", "results", "units", "errors", "files"}:
                continue  # planner itself (__version__, data_dir), the report's own layer, below
            names = {a.name for a in node.names}
            if not names <= REPORT_MAY_IMPORT.get(module, set()):
                found.append(f"report/{path.name}: from {module} import {', '.join(sorted(names))}")
    assert not found, f"reports importing more than types: {found}"

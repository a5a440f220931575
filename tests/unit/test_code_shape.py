"""The operator package keeps a shape a newcomer can find their way in: no module over
MAX_MODULE_LINES lines and no function over MAX_FUNCTION_LINES, tables aside (module-level data
such as printer columns or defaults does not count)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "lightship"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 320
MAX_FUNCTION_LINES = 60
_LITERALS = (ast.Dict, ast.List, ast.Tuple, ast.Set)


def _tree(module: Path) -> ast.Module:
    return ast.parse(module.read_text(), filename=str(module))


def _table_lines(tree: ast.Module) -> int:
    """Lines of module-level assignments of literal data: tables, which may grow as they need."""
    return sum(
        statement.end_lineno - statement.lineno + 1
        for statement in tree.body
        if isinstance(statement, ast.Assign | ast.AnnAssign)
        and isinstance(statement.value, _LITERALS)
    )


def test_there_are_modules() -> None:
    assert len(MODULES) > 10, f"no operator package under {PACKAGE}: this test would check nothing"


def test_no_module_over_the_limit() -> None:
    too_long = {}
    for module in MODULES:
        lines = len(module.read_text().splitlines()) - _table_lines(_tree(module))
        if lines > MAX_MODULE_LINES:
            too_long[str(module.relative_to(PACKAGE))] = lines
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines (tables aside): {too_long}"


def test_no_function_over_the_limit() -> None:
    too_long = {}
    for module in MODULES:
        for node in ast.walk(_tree(module)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long[f"{module.relative_to(PACKAGE)}:{node.lineno} {node.name}"] = lines
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines: {too_long}"

"""The package is layered: no import cycles among grader's modules, and no package-internal import
inside a function except in grader/cli (where it keeps `grader --help` fast)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "grader"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported(node, here: str, is_package: bool, known) -> list[str]:
    """The grader modules an import statement names (a `from X import y` names X, and X.y when y
    is a module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "grader"]
    base = node.module or ""
    if node.level:
        parent = here.split(".") if is_package else here.split(".")[:-1]
        parent = parent[:len(parent) - (node.level - 1)]
        base = ".".join(parent + ([base] if base else []))
    if base.split(".")[0] != "grader":
        return []
    found = [base]
    found += [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
    return found


def graph():
    known = modules()
    edges, inner = {}, []
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            targets = [t for t in imported(node, name, is_package, known) if t in known and t != name]
            if not targets:
                continue
            if id(node) in top or _in_module_level_block(tree, node):
                edges.setdefault(name, set()).update(t for t in targets if t != "grader")
            elif not name.startswith("grader.cli"):
                inner.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {', '.join(targets)}")
    return edges, inner


def _in_module_level_block(tree, target) -> bool:
    """An import under a module-level `if`/`try` (not inside a function or class) counts as top level."""
    for node in tree.body:
        if isinstance(node, (ast.If, ast.Try)) and any(n is target for n in ast.walk(node)):
            return True
    return False


def find_cycle(edges):
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_cycles_among_grader_modules():
    edges, _ = graph()
    assert len(edges) > 20
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_package_internal_imports_inside_functions_outside_the_cli():
    _, inner = graph()
    assert not inner, "imports inside functions (move them to the top of the module):\n" + "\n".join(inner)


def test_the_checker_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None

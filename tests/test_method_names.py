"""No module outside hpo/search/ names a method: the registry (hpo/search/registry.py) is the one
home of what a method is, so a string literal equal to a registered method's name anywhere else
in hpo/ is a method hard-wired. Docstrings aside, and hpo/profiles.py, whose `space.grid` is the
name of a profile key."""

import ast
from pathlib import Path

from hpo.search import registry

HPO = Path(__file__).parents[1] / "hpo"
EXEMPT = {HPO / "profiles.py"}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def test_no_module_outside_the_search_package_names_a_method():
    names, found = set(registry.names()), []
    for path in sorted(HPO.rglob("*.py")):
        if path.is_relative_to(HPO / "search") or path in EXEMPT:
            continue
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        found += [f"{path.relative_to(HPO.parent)}:{node.lineno} {node.value!r}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and node.value in names and id(node) not in docs]
    assert not found, "methods named outside hpo/search/:\n" + "\n".join(found)


def test_the_check_sees_a_method_named_outside():
    tree = ast.parse('"""A docstring naming asha."""\nMETHOD = "asha"\n')
    constants = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in _docstrings(tree)]
    assert [c.value for c in constants] == ["asha"]

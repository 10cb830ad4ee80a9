"""The size and privacy rules of the code (second redesign step): small modules, short
functions, and no package reaching into another's private names.

No module of a package over ``MAX_MODULE_LINES`` lines and no function over
``MAX_FUNCTION_LINES`` (tests and ``bench/`` mains are outside the rule: a test or a bench's
``main`` reads top to bottom); no ``from pkg.mod import _name`` from another package, in the
packages or in ``bench/`` (tests may reach into the module they test).
"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("optics", "infra", "manifests", "synth", "curate", "train", "demo")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _files(folders):
    for folder in folders:
        yield from sorted((REPO / folder).rglob("*.py"))


def test_no_module_over_the_limit():
    long = [
        f"{f.relative_to(REPO)}: {n} lines"
        for f in _files(PACKAGES)
        if (n := len(f.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, long


def test_no_function_over_the_limit():
    long = []
    for f in _files(PACKAGES):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{f.relative_to(REPO)}:{node.lineno} {node.name}: {n} lines")
    assert not long, long


def test_no_private_name_imported_from_another_package():
    found = []
    for f in _files((*PACKAGES, "bench")):
        own = f.relative_to(REPO).parts[0]
        for node in ast.walk(ast.parse(f.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                continue
            top = node.module.split(".")[0]
            if top in PACKAGES and top != own:
                found += [
                    f"{f.relative_to(REPO)}:{node.lineno} {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_")
                ]
    assert not found, found

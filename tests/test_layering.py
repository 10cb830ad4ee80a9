"""The package layering holds and no module imports itself back through others.

Layers: ``optics`` (lens physics) -> ``infra`` (shared infrastructure: config files and number
types, paths and URIs, image decoding, atomic writes, progress, Ray start-up) -> ``manifests``
(the contract between stages) -> ``synth`` / ``curate`` / ``train`` -> ``demo``; a package
imports only the layers before it (and itself). Cycles are checked over every import, at module
level or inside a function: a lazy import only hides a cycle (``manifests.io`` and
``manifests.validate`` imported each other that way).
"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("optics", "infra", "manifests", "synth", "curate", "train", "demo")
MAY_IMPORT = {
    "optics": set(),
    "infra": {"optics"},
    "manifests": {"optics", "infra"},
    "synth": {"optics", "infra", "manifests"},
    "curate": {"optics", "infra", "manifests"},
    "train": {"optics", "infra", "manifests"},
    "demo": {"optics", "infra", "manifests", "synth", "curate", "train"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for f in (REPO / pkg).rglob("*.py"):
            parts = list(f.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = f
    return found


def _imports(tree: ast.Module, name: str, is_pkg: bool) -> set[str]:
    pending, out = list(ast.walk(tree)), set()
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + is_pkg]
                base = ".".join([*anchor, base] if base else anchor)
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph = {}
    for name, f in mods.items():
        tree = ast.parse(f.read_text())
        raw = _imports(tree, name, f.name == "__init__.py")
        graph[name] = {m for m in raw if m in mods and m != name}
    return graph


def test_packages_import_only_the_layers_before_them():
    wrong = [
        f"{mod} imports {dep}"
        for mod, deps in _graph().items()
        for dep in deps
        if dep.split(".")[0] not in MAY_IMPORT[mod.split(".")[0]] | {mod.split(".")[0]}
    ]
    assert not wrong, wrong


def test_no_import_cycles():
    graph = _graph()
    # a package's __init__ importing its own submodules is how packages export names; a cycle
    # needs an edge back from a submodule into a module that is still being imported
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1 and not node.startswith(dep + "."):
                cycles.append(" -> ".join([*path[path.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [mod])
    assert not cycles, cycles

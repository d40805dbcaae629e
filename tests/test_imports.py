"""The package's imports go one way: no module imports the package root, and
the graph of imports between its modules has no circle."""

import ast
import pathlib

import darknet_softmax

PACKAGE = pathlib.Path(darknet_softmax.__file__).parent
ROOT = "darknet_softmax"


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(name, path, known):
    """The package's modules that `name` imports, at any depth of its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # `from package import module` imports the module, not only the package
            found.update(
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            )
    return {module for module in found if module == ROOT or module.startswith(ROOT + ".")}


def graph():
    known = modules()
    return {name: imports_of(name, path, known) - {name} for name, path in known.items()}


def test_no_module_imports_the_package_root():
    importers = sorted(
        name for name, imported in graph().items() if ROOT in imported and name != ROOT
    )
    assert importers == []


def circles_in(edges):
    """Every circle a depth-first walk of {module: imported modules} meets."""
    done, active, circles = set(), [], []

    def visit(name):
        if name in active:
            circles.append(active[active.index(name) :] + [name])
            return
        if name in done:
            return
        active.append(name)
        for imported in sorted(edges.get(name, ())):
            visit(imported)
        active.pop()
        done.add(name)

    for name in sorted(edges):
        visit(name)
    return circles


def test_the_imports_have_no_circle():
    assert circles_in(graph()) == []


def test_the_checker_finds_circles_and_reads_relative_imports():
    assert circles_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert circles_in({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []
    edges = graph()
    assert "darknet_softmax.cfg" in edges["darknet_softmax.network"]
    assert "darknet_softmax.reference" in edges["darknet_softmax.layers.softmax"]
    assert "darknet_softmax.layers.base" in edges["darknet_softmax.cfg"]
    assert "darknet_softmax.network" not in edges["darknet_softmax.cfg"]

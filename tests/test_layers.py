"""The house: no import cycle in gandash (imports inside functions count), nothing imports upward, and
Streamlit only in ui/. Read from the source with ast, so a new import against the order fails here."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gandash"

# Lowest first. A module may import its own layer and those below it, never one above.
LAYERS = {
    "base": ["config", "errors"],
    "run directory": ["store"],
    "engine, quality, exploration": ["engine", "quality", "explore"],
    "runs' lives and their backends": ["backends"],
    "studies and talks": ["studies", "talks"],
    "command line": ["cli", "__main__"],
    "pages": ["ui"],
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every gandash module ``name`` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target != "gandash":
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def layer_of(name: str) -> int:
    top = name.split(".")[1] if "." in name else name
    for i, members in enumerate(LAYERS.values()):
        if top in members:
            return i
    raise AssertionError(f"{name} is in no layer: add it to tests/test_layers.py's LAYERS")


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_cycle():
    assert cycles(graph()) == []


def test_nothing_imports_a_higher_layer():
    upward = [f"{a} ({list(LAYERS)[layer_of(a)]}) imports {b} ({list(LAYERS)[layer_of(b)]})"
              for a, targets in graph().items() if a != "gandash" for b in targets if layer_of(b) > layer_of(a)]
    assert upward == []


def test_streamlit_is_imported_only_by_the_pages():
    outside = []
    for name, path in modules().items():
        if name.startswith("gandash.ui"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            outside += [f"{name}: {n}" for n in names if n.split(".")[0] == "streamlit"]
    assert outside == []


def test_the_checks_see_a_cycle_and_an_upward_import():
    """The checks themselves can fail: a made-up graph with both faults is caught."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer_of("gandash.ui.nav") > layer_of("gandash.backends.launcher") > layer_of("gandash.engine.train")

"""The package's layout holds: no import circles between modules, and the room's core
(``kiosk/room/``) imports no capability; capabilities plug into the room in
``kiosk/app/features.py`` (issue 14)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "kiosk"
FEATURES = ("kiosk.site", "kiosk.access", "kiosk.visits", "kiosk.handout", "kiosk.devices",
            "kiosk.partners", "kiosk.evaluation", "kiosk.views", "kiosk.media", "kiosk.cli",
            "kiosk.app")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool) -> set[str]:
    """kiosk modules that ``path`` imports (at module level only, if asked: an import
    inside a function runs when called, which is how a lazy dependency is kept)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("kiosk")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("kiosk"):
            # `from kiosk import i18n` imports the module kiosk.i18n, not the package's API
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def graph(top_level_only: bool = True) -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        targets = set()
        for imported in imports(path, top_level_only):
            while imported and imported not in modules:  # `from kiosk.x import f`: kiosk.x
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        edges[name] = targets
    return edges


def test_no_module_imports_itself_back_at_load_time():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                circle = path[path.index(nxt):] + [nxt]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_the_rooms_core_imports_no_capability():
    for path in (PACKAGE / "room").rglob("*.py"):
        for imported in imports(path, top_level_only=False):
            assert not imported.startswith(FEATURES), f"{module_name(path)} imports {imported}"

"""The rules of the house, read from the code's own imports: no circles, and imports only go down.

- `explorer` never imports streamlit or `ui`; `ui` never imports `app_pages`.
- The foundations (`explorer.models`, `.runtime`, `.figures`, `.images`, `.randomness`) import no page package.
- No import circle between modules, TYPE_CHECKING imports and imports inside functions included.
- At most 3 plain modules at the top of `explorer/`, and no module of `explorer/` or `ui/` over 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOUNDATIONS = ("explorer.models", "explorer.runtime", "explorer.figures", "explorer.images", "explorer.randomness")
PAGE_PACKAGES = ("explorer.convolution", "explorer.filters", "explorer.receptive_fields", "explorer.architecture",
                 "explorer.training", "explorer.attribution")


def _modules() -> dict[str, Path]:
    out = {}
    for top in ("explorer", "ui", "app_pages"):
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every module `path` imports (absolute imports; `from pkg import mod` counts as pkg.mod when mod is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return found


GRAPH = {name: {m for m in _imports(path) if m in MODULES} for name, path in MODULES.items()}
RAW = {name: _imports(path) for name, path in MODULES.items()}


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_explorer_never_imports_streamlit_or_ui_and_ui_never_imports_the_pages():
    for name, imported in RAW.items():
        if _within(name, ("explorer",)):
            assert not {m for m in imported if _within(m, ("streamlit", "ui", "app_pages"))}, name
        if _within(name, ("ui",)):
            assert not {m for m in imported if _within(m, ("app_pages",))}, name


def test_the_foundations_import_no_page_package():
    for name, imported in GRAPH.items():
        if _within(name, FOUNDATIONS):
            assert not {m for m in imported if _within(m, PAGE_PACKAGES)}, name


def test_there_is_no_import_circle():
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for child in sorted(GRAPH[name]):
            if state.get(child) == 1:
                pytest.fail("import circle: " + " → ".join([*path[path.index(child):], child]))
            if child not in state:
                visit(child, [*path, child])
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])


def test_explorer_holds_packages_and_few_plain_modules_and_no_module_is_too_long():
    plain = [p.name for p in (ROOT / "explorer").glob("*.py") if p.name != "__init__.py"]
    assert len(plain) <= 3, plain
    long = {name: n for name, path in MODULES.items() if not name.startswith("app_pages")
            and (n := len(path.read_text().splitlines())) > 400}
    assert not long, long

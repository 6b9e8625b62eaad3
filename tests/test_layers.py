"""The layering of `lib_stylemix`, checked on the source (ast, nothing is imported).

Layers, lowest first; a module may import its own layer and lower ones, never a higher one:

    0  errors, console, fsutil, seams, settings, threads   shared vocabulary and side-effect helpers
    1  lora                                                  the LoRA engine (ΔW algebra, files)
    2  pool, dataset                                         use-cases over LoRAs and images
    3  restyle, epochs, training, science                    use-cases that drive generation / sd-scripts, and
                                                             the experiments built on them
    4  ui, cli, __main__, and every package's cli.py         front ends (gradio, argparse)
    5  webui                                                 the only adapter to A1111/Forge

Rules:
- the core (everything except ui/ and webui/) never imports the webui (`modules`), gradio, `lib_stylemix.ui` or
  `lib_stylemix.webui` at module level (function-level imports of optional heavy libraries are how the core
  stays importable without them — but never of our own front ends, see the layer rule);
- the layer rule holds for every import of our own modules, at module level or inside a function: a lazy
  import is still a dependency;
- no import circle between our modules. Every import counts here — module level, inside functions and under
  `if TYPE_CHECKING:` — because a circle that only works thanks to a lazy or type-only import is still two
  modules that cannot be understood, tested or moved one without the other.
A new top-level module or package must be placed in LAYERS, so the order stays a decision, not an accident.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "lib_stylemix"
ROOT = Path(__file__).resolve().parents[1]
FRONT_END = 4
LAYERS: dict[str, int] = {
    "__init__": 0, "errors": 0, "console": 0, "fsutil": 0, "seams": 0, "settings": 0, "threads": 0,
    "registry": 0, "lazy": 0,
    "lora": 1,
    "pool": 2, "dataset": 2,
    "restyle": 3, "epochs": 3, "training": 3, "science": 3,
    "ui": 4, "cli": 4, "__main__": 4,
    "webui": 5,
}  # fmt: skip
CORE_FORBIDDEN = ("modules", "gradio", f"{PACKAGE}.ui", f"{PACKAGE}.webui")


@dataclass(frozen=True)
class Import:
    source: str  # importing module, dotted
    target: str  # imported module, dotted (a package stands for its __init__)
    line: int
    module_level: bool
    type_only: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py")) if "__pycache__" not in p.parts}


def _is_type_checking(test: ast.expr) -> bool:
    return "TYPE_CHECKING" in ast.unparse(test)


def _targets(node: ast.Import | ast.ImportFrom, source: str, is_package: bool, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = source.split(".") if is_package else source.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        module = ".".join([*base, *([node.module] if node.module else [])])
    else:
        module = node.module or ""
    # `from pkg import sub` imports the module pkg.sub; `from pkg import name` depends on pkg's __init__
    return [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]


def imports_of(path: Path, known: set[str]) -> list[Import]:
    source = module_name(path)
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def walk(nodes: list[ast.stmt] | list[ast.AST], module_level: bool, type_only: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                walk(node.body, module_level, True)
                walk(node.orelse, module_level, type_only)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                found.extend(Import(source, t, node.lineno, module_level, type_only)
                             for t in _targets(node, source, is_package, known))
            else:
                inner = module_level and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                walk(list(ast.iter_child_nodes(node)), inner, type_only)

    walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body, True, False)
    return found


def layer_of(module: str) -> int:
    parts = module.split(".")
    if parts[-1] == "cli" and len(parts) > 2:  # a package's command line is a front end over that package
        return FRONT_END
    top = parts[1] if len(parts) > 1 else "__init__"
    assert top in LAYERS, f"{module}: place `{top}` in LAYERS in tests/test_layers.py"
    return LAYERS[top]


def is_core(module: str) -> bool:
    return not any(module == p or module.startswith(p + ".") for p in (f"{PACKAGE}.ui", f"{PACKAGE}.webui"))


@functools.cache
def import_graph() -> tuple[Import, ...]:
    modules = all_modules()
    known = set(modules)
    return tuple(imp for path in modules.values() for imp in imports_of(path, known))


def own(imp: Import) -> bool:
    return imp.target == PACKAGE or imp.target.startswith(PACKAGE + ".")


def find_circles(edges: list[Import] | tuple[Import, ...]) -> list[list[str]]:
    """Every group of modules that reach each other (a strongly connected component of 2+ modules), sorted."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        if e.source != e.target:
            graph.setdefault(e.source, set()).add(e.target)
            graph.setdefault(e.target, set())

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    reach = {v: reachable(v) for v in graph}
    circles = {tuple(sorted(w for w in reach[v] if v in reach[w])) for v in graph if v in reach[v]}
    return sorted(list(c) for c in circles)


def test_the_checker_sees_the_code_base():
    edges = import_graph()
    modules = all_modules()
    assert f"{PACKAGE}.lora.kernel" in modules and f"{PACKAGE}.ui.app" in modules
    # a module-level, a function-level and a type-only import of our own are all seen
    assert any(own(e) and e.module_level and not e.type_only for e in edges)
    assert any(own(e) and not e.module_level for e in edges)
    assert any(own(e) and e.type_only for e in edges)


def test_the_circle_finder_finds_circles():
    def edge(a: str, b: str) -> Import:
        return Import(a, b, 1, True, False)

    assert find_circles([edge("a", "b"), edge("b", "c"), edge("c", "a"), edge("c", "d")]) == [["a", "b", "c"]]
    assert find_circles([edge("a", "b"), edge("b", "c")]) == []


def test_core_never_imports_the_webui_gradio_or_the_front_ends_at_module_level():
    bad = [f"{e.source}:{e.line} imports {e.target}" for e in import_graph()
           if is_core(e.source) and e.module_level and not e.type_only
           and any(e.target == f or e.target.startswith(f + ".") for f in CORE_FORBIDDEN)]
    assert bad == []


def test_no_lower_layer_imports_a_higher_one():
    bad = [f"{e.source}:{e.line} (layer {layer_of(e.source)}) imports {e.target} (layer {layer_of(e.target)})"
           for e in import_graph() if own(e) and layer_of(e.target) > layer_of(e.source)]
    assert bad == []


def test_no_import_circles():
    circles = find_circles([e for e in import_graph() if own(e)])
    assert circles == [], "import circles (module-level, function-level and TYPE_CHECKING imports all count)"

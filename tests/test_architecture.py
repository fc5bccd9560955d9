"""The architecture as tests, beside import-linter's contracts in pyproject.toml (which
`./dev test` runs): what those contracts do not say.

- No module imports an ancestor package of its own whose ``__init__`` imports it back
  (``from perflab.app.offload import x`` inside ``perflab/app/offload/batching.py``, while
  ``offload/__init__`` imports batching): that ``__init__`` may still be running, so the name
  may not exist yet. Siblings import each other directly.
- No import cycle at all between modules, type-only imports included (import-linter's
  acyclic_siblings contract checks packages level by level; this checks the modules).
- Files stay small enough to read: no module of the package over 400 lines.
"""

from __future__ import annotations

from pathlib import Path

import grimp

SOURCE = Path(__file__).parents[1] / "src" / "perflab"
MAX_LINES = 400


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("perflab", cache_dir=None)


def test_no_module_imports_its_own_package() -> None:
    graph = _graph()
    offenders = sorted(
        f"{importer} -> {imported}"
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if importer.startswith(imported + ".")
        and graph.chain_exists(importer=imported, imported=importer)
    )
    assert offenders == []


def test_no_import_cycle_between_modules() -> None:
    graph = _graph()
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    # Tarjan's strongly connected components, iteratively (the graph has ~150 modules).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
                continue
            if child not in edges:
                continue
            if child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    assert cycles == []


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(SOURCE)): lines
        for path in SOURCE.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}

"""The route-string test: no hand-written source spells a server route outside the route table.

Every route's method and path live in ``neural_heatmap_contract.routes``; the server's
router, ``/openapi.json``, the bridge's upstream calls and the docs' route tables read
them there. This test reads every hand-written Python, TypeScript, Go and Java source
and fails on a string literal that holds a route: one containing ``/api/``, or one that
is exactly a path of the table outside ``/api/`` (``/health``, ``/ws``, ...). Comments
and docstrings may name routes; code may not.

The rule for what is not scanned, and why:

* the table itself (``routes.py``);
* generated code (``DO NOT EDIT`` or ``@generated`` in its first lines): it is rewritten by
  ``make gen`` from its source, never by hand;
* tests and the harnesses that start processes for them (``tests/``, Go ``*_test.go``
  and ``sdk/go/internal/livestack/``, Java ``src/test/``, TypeScript ``src/test/`` and
  ``src/testing/``): they hit raw HTTP on purpose, as an outside client does, so a
  route changed in the table breaks them instead of moving them along;
* Markdown: docs/http-api.md and docs/bridge.md render their route tables from the
  table (``scripts/render_route_table.py``); prose elsewhere may name routes.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from neural_heatmap_contract import routes

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = (".py", ".ts", ".go", ".java")
SKIP_DIRS = {".git", ".venv", ".tools", "node_modules", "__pycache__", "target", "dist", "build",
             ".mypy_cache", ".ruff_cache", ".pytest_cache", "data"}
EXEMPT = (
    "contract/python/neural_heatmap_contract/routes.py",
    "tests/",
    "sdk/go/internal/livestack/",
    "sdk/java/src/test/",
    "sdk/typescript/src/test/",
    "sdk/typescript/src/testing/",
)
GENERATED = re.compile(r"DO NOT EDIT|@generated")
HEAD_LINES = 30  # the marker may follow a licence header
# Paths of the table that do not contain /api/: matched as whole literals only.
OTHER_PATHS = frozenset(r.path for r in routes.http_routes().values()
                        if not r.path.startswith("/api/"))


def is_route(text: str) -> bool:
    """True for a literal that spells a route."""
    return "/api/" in text or text in OTHER_PATHS


def sources() -> Iterator[Path]:
    """Every hand-written source file the rule covers."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            path = Path(folder) / name
            relative = path.relative_to(ROOT).as_posix()
            if (not name.endswith(SUFFIXES) or name.endswith("_test.go")
                    or relative.startswith(EXEMPT)):
                continue
            with path.open(encoding="utf-8", errors="replace") as f:
                head = "".join(f.readline() for _ in range(HEAD_LINES))
            if not GENERATED.search(head):
                yield path


def python_literals(text: str) -> Iterator[tuple[int, str]]:
    """(line, value) of every string constant, f-string parts included, docstrings and
    other bare string statements left out (they are comments)."""
    tree = ast.parse(text)
    bare = {id(node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in bare):
            yield node.lineno, node.value


_C_TOKEN = re.compile(r'//[^\n]*|/\*.*?\*/|"""(?:.|\n)*?"""|"(?:\\.|[^"\\\n])*"'
                      r"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`", re.S)


def c_like_literals(text: str) -> Iterator[tuple[int, str]]:
    """(line, body) of every string literal of Go, TypeScript or Java: comments are
    matched first so a quote inside one is no literal, and a ``//`` inside a literal
    is no comment (the scanner takes tokens left to right)."""
    for match in _C_TOKEN.finditer(text):
        token = match.group()
        if token.startswith(("//", "/*")):
            continue
        quote = 3 if token.startswith('"""') else 1
        yield text.count("\n", 0, match.start()) + 1, token[quote:-quote]


def route_literals(path: Path) -> list[str]:
    """``file:line: literal`` of each route literal in ``path``."""
    text = path.read_text(encoding="utf-8")
    found = python_literals(text) if path.suffix == ".py" else c_like_literals(text)
    relative = path.relative_to(ROOT).as_posix()
    return [f"{relative}:{line}: {value!r}" for line, value in found if is_route(value)]


def test_no_route_is_spelt_outside_the_table() -> None:
    found = [hit for path in sources() for hit in route_literals(path)]
    assert not found, ("route strings written by hand; take them from "
                       "neural_heatmap_contract.routes (http(name).path, .fill(), "
                       ".operation):\n  " + "\n  ".join(found))


def test_the_scan_covers_every_language_and_skips_what_it_says() -> None:
    scanned = {p.relative_to(ROOT).as_posix() for p in sources()}
    for expected in ("server/neural_heatmap_server/app.py",
                     "bridge/neural_heatmap_bridge/_service.py",
                     "sdk/typescript/src/client.ts", "sdk/go/neuralheatmap/client.go",
                     "sdk/java/src/main/java/dev/neuralheatmap/NeuralHeatmapClient.java"):
        assert expected in scanned
    for skipped in ("contract/python/neural_heatmap_contract/routes.py",
                    "contract/python/neural_heatmap_contract/policy.py",  # generated
                    "sdk/typescript/src/policy_gen.ts", "tests/server/conftest.py"):
        assert skipped not in scanned
    assert not any(p.endswith("_test.go") or "/gen/" in p for p in scanned)


@pytest.mark.parametrize(("source", "suffix", "hits"), [
    ('x = "/api/models"\n', ".py", ["'/api/models'"]),
    ('url = f"{base}/api/anomalies?limit=1"\n', ".py", ["'/api/anomalies?limit=1'"]),
    ('u = base + "/health"\n', ".py", ["'/health'"]),
    ('"""Calls ``GET /api/models``."""\nx = "/healthy"  # GET /api/models\n', ".py", []),
    ('const a = "/api/theme"; // "/api/x"\n/* "/api/y" */ const b = `${u}/ws`;\n', ".ts",
     ["'/api/theme'"]),
    ('s := "http://h/api/render" // ok\nr := `/api/layout`\n', ".go",
     ["'http://h/api/render'", "'/api/layout'"]),
    ('String s = "/ws"; char c = \'/\'; // "/api/z"\n', ".java", ["'/ws'"]),
])
def test_the_scanner_finds_literals_and_only_literals(tmp_path: Path, source: str, suffix: str,
                                                      hits: list[str]) -> None:
    """The scanner itself: code literals are found, comments and docstrings are not."""
    path = tmp_path / f"sample{suffix}"
    path.write_text(source)
    text = path.read_text()
    found = python_literals(text) if suffix == ".py" else c_like_literals(text)
    assert [repr(v) for _, v in found if is_route(v)] == hits

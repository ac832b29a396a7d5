"""The client facts and the retry decision are written once: in protos/policy/ and the protos.

``make gen`` writes them into every language (tests/contract/test_policy.py); this test fails
when one of them is typed again by hand in shipped code: a default port, the message limit,
the idle timeout or retry budget as a literal, or a per-call idempotency flag. Comments and
docstrings may still mention the numbers (examples, explanations).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FACT_NUMBERS = {50051, 8080, 256 << 20}

PYTHON_PACKAGES = [
    "sdk/python/neural_heatmap", "sdk/python/neural_heatmap_cli", "bridge/neural_heatmap_bridge",
    "server/neural_heatmap_server", "contract/python/neural_heatmap_contract",
]
GENERATED = {
    "contract/python/neural_heatmap_contract/policy.py",
    "sdk/go/neuralheatmap/policy_gen.go",
    "sdk/typescript/src/policy_gen.ts",
    "sdk/java/src/main/java/dev/neuralheatmap/Policy.java",
}
# Code in the other languages: the numbers in any spelling, and the per-call flags that
# used to say which RPC is idempotent.
OTHER_SOURCES = {
    "sdk/go/neuralheatmap": ("*.go", r"\b50051\b|\b8080\b|256\s*<<\s*20|\b268435456\b"
                             r"|\b(15|60)\s*\*\s*time\.Second|invoke\([^)]*,\s*(true|false),"),
    "sdk/typescript/src": ("*.ts", r"\b50051\b|\b8080\b|256\s*\*\s*1024\s*\*\s*1024"
                           r"|\b268435456\b|\b(15|60)_?000\b|idempotent\s*:"),
    "sdk/java/src/main/java": ("*.java", r"\b50051\b|\b8080\b|256\s*<<\s*20|\b268435456\b"
                               r"|ofSeconds\((15|60)\)|unary\([^;]*,\s*(true|false)\)"),
}


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _python_files() -> list[Path]:
    return [p for pkg in PYTHON_PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))
            if "/v1/" not in _relative(p) and _relative(p) not in GENERATED]


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for stmt in body:  # a module's, class's or function's docstring, or one on a name
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                    ids.add(id(stmt.value))
    return ids


@pytest.mark.parametrize("path", _python_files(), ids=_relative)
def test_python_code_types_no_client_fact(path: Path) -> None:
    tree = ast.parse(path.read_text())
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in skip:
            continue
        if (isinstance(node.value, int) and node.value in FACT_NUMBERS) or (
                isinstance(node.value, str) and re.search(r":(50051|8080)\b", node.value)):
            found.append(f"line {node.lineno}: {node.value!r}")
    assert not found, f"{_relative(path)} types a client fact (use the contract's policy): {found}"


def _code(text: str) -> str:
    """Source without comments (// and /* */), so explanations may name the numbers."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"(^|[^:])//.*", r"\1", text)  # not the // of a URL


def _other_files() -> list[tuple[Path, str]]:
    out = []
    for folder, (pattern, rule) in OTHER_SOURCES.items():
        for p in sorted((ROOT / folder).rglob(pattern)):
            rel = _relative(p)
            if rel in GENERATED or "/gen/" in rel or "/test/" in rel or rel.endswith("_test.go"):
                continue
            out.append((p, rule))
    return out


@pytest.mark.parametrize(("path", "rule"), _other_files(), ids=lambda v: _relative(v) if
                         isinstance(v, Path) else "")
def test_go_typescript_java_code_types_no_client_fact(path: Path, rule: str) -> None:
    hits = [m.group(0) for m in re.finditer(rule, _code(path.read_text()))]
    assert not hits, f"{_relative(path)} types a client fact or an idempotency flag: {hits}"


def test_the_scan_sees_the_sdks() -> None:
    """Guards the guard: the folders exist and hold the SDKs' main sources."""
    names = {p.name for p, _ in _other_files()}
    assert {"client.go", "retry.go", "client.ts", "NeuralHeatmapClient.java"} <= names
    assert any(p.name == "_channel.py" for p in _python_files())

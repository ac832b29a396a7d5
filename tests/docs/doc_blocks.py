"""The fenced code blocks of README.md and docs/*.md, and how each one is to be treated.

A block is *runnable* when its info string names a language the harness runs
(``python``, ``ts``/``typescript``, ``go``, ``java``, ``sh``/``bash``). Any other block, and a
runnable one that cannot run here, carries a marker on the line right before its
opening fence::

    <!-- not-run: output -->

naming one reason from :data:`REASONS`. The info strings ``text`` and ``output``
mark themselves (they are never code). A file whose first line is
``<!-- not-run-file: REASON -->`` marks all its blocks (the verbatim seed copies).
A block that is neither runnable nor marked, or marked with a reason outside
:data:`REASONS`, fails the test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

LANGUAGES = {"python": "python", "ts": "ts", "typescript": "ts", "go": "go", "java": "java",
             "sh": "sh", "bash": "sh"}
"""Info strings the harness executes, and the runner each one gets."""

REASONS = {
    "output": "what a command prints or returns, not a command",
    "text": "prose or a picture in a code font (info string `text`)",
    "diagram": "a drawing of components or imports",
    "payload": "a message body or file format shown for reference (JSON, HTTP)",
    "usage": "a command's synopsis with [optional] parts or placeholders to fill in",
    "signature": "a method's signature, listed for reference",
    "make": "a make target: `make test` runs this very harness, `make run`/`make bench` "
            "run for minutes; the make targets are tested by CI itself",
    "deployment": "needs a deployment the harness does not start (several bridges, NATS, a "
                  "proxy in front)",
    "service": "starts a server or bridge that runs until stopped (the harness starts its own)",
    "destructive": "deletes your own state (`rm -rf var/data`)",
    "long": "runs for minutes (a full benchmark); CI runs its short form",
    "config": "a file to save in your own project (the harness writes the same settings)",
    "install": "installs into a project of your own (the harness does the same steps itself: "
               "the packed TypeScript tarball, the Go module with its replace)",
    "seed": "the original (seed) API document, kept verbatim for reference; it targets "
            "the original HTTP server, tests/sdk/test_seed_readme.py runs its examples",
}
"""The one-word reasons a block may give for not being run, and what each means."""

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
_MARKER = re.compile(r"^<!--\s*not-run:\s*([A-Za-z-]+)\s*-->$")
_FILE_MARKER = re.compile(r"^<!--\s*not-run-file:\s*([A-Za-z-]+)\s*-->$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language word, its marker, its text."""

    path: Path
    line: int
    info: str
    reason: str | None
    code: str

    @property
    def name(self) -> str:
        """``docs/clients.md:77``: how a test id and a failure name the block."""
        return f"{self.path.relative_to(REPO_ROOT)}:{self.line}"

    @property
    def language(self) -> str | None:
        """The runner for this block, or None when no runner exists for its info string."""
        return LANGUAGES.get(self.info)


def doc_files() -> list[Path]:
    """README.md and every docs/*.md, in a stable order."""
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown file (a fence closes on the same fence string)."""
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    whole = _FILE_MARKER.match(lines[0].strip()) if lines else None
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m.group(1), m.group(2), m.group(3).strip()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != fence:
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line)
            i += 1
        i += 1
        before = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = _MARKER.match(before)
        word = info.split()[0].lower() if info else ""
        reason = (whole.group(1) if whole else marker.group(1) if marker
                  else word if word in ("text", "output") else None)
        found.append(Block(path, start + 1, word, reason, "\n".join(body) + "\n"))
    return found


def all_blocks() -> list[Block]:
    """Every fenced block of README.md and docs/*.md."""
    return [b for path in doc_files() for b in blocks(path)]

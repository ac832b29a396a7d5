"""`make breaking`: buf breaking against a base commit, with one way to break on purpose.

The contract is pre-1.0, so a breaking change may land, but only deliberately: a diff that
``buf breaking`` rejects passes only when

1. ``protos/VERSION`` (the contract version, ``MAJOR.MINOR.PATCH``) is greater than the
   base commit's (a base without the file counts as 0.1.0, the contract before versioning),
   and
2. ``CHANGELOG.md`` has a section ``## [<new version>]`` with at least one bullet marked
   ``**Breaking**`` (what broke and what clients do about it).

Any other breaking diff fails, so the check stays useful for every later change: the next
break needs the next version and its own changelog entry, and a version bump alone lets
nothing through without one. A changed version always needs its changelog section, breaking
or not. The rule is :func:`verdict`; docs/contract.md describes it for people.

One finding of buf's is not a break and is dropped (:func:`is_break`): an RPC's
``idempotency_level`` going from unset (``IDEMPOTENCY_UNKNOWN``) to a declared level. A
client built before the declaration treats the RPC as unknown, which is what it did anyway
(no retries, no Connect GET); buf flags every change of the level alike. Any other change of
the level (a declared level changed or removed) still counts: clients retry on it.

Usage: ``python scripts/check_breaking.py --base REF [--buf PATH] [--root DIR]``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

VERSION_FILE = "protos/VERSION"
CHANGELOG = "CHANGELOG.md"
UNVERSIONED = (0, 1, 0)
"""The version of a base commit that has no protos/VERSION (the contract before versioning)."""


@dataclass(frozen=True)
class Verdict:
    """Whether the change may land, and the sentence that says why."""

    ok: bool
    reason: str


def parse_version(text: str) -> tuple[int, int, int]:
    """``"0.2.0"`` -> ``(0, 2, 0)``.

    Raises:
        ValueError: When the text is not ``MAJOR.MINOR.PATCH`` of decimal numbers.
    """
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", text.strip())
    if match is None:
        raise ValueError(f"{VERSION_FILE} must be MAJOR.MINOR.PATCH, not {text.strip()!r}")
    major, minor, patch = (int(x) for x in match.groups())
    return major, minor, patch


def changelog_section(changelog: str, version: str) -> str | None:
    """The text of ``## [version]`` up to the next ``## `` heading (None when absent)."""
    match = re.search(
        rf"^## \[{re.escape(version)}\][^\n]*\n(.*?)(?=^## |\Z)", changelog, re.M | re.S
    )
    return match.group(1) if match else None


def verdict(
    breaking: bool, base_version: str | None, head_version: str, changelog: str
) -> Verdict:
    """The rule of this module's docstring, on plain values (tested without git or buf).

    Args:
        breaking: Whether ``buf breaking`` found a breaking change against the base.
        base_version: ``protos/VERSION`` at the base commit, None when it had none.
        head_version: ``protos/VERSION`` in the working tree.
        changelog: ``CHANGELOG.md`` in the working tree ("" when missing).
    """
    head = parse_version(head_version)
    base = parse_version(base_version) if base_version is not None else UNVERSIONED
    version = head_version.strip()
    if head < base:
        return Verdict(False, f"{VERSION_FILE} went back from {base_version} to {version}")
    section = changelog_section(changelog, version) if head != base else None
    if head != base and section is None:
        return Verdict(
            False, f"{VERSION_FILE} is {version} but {CHANGELOG} has no '## [{version}]'"
        )
    if not breaking:
        return Verdict(True, "no breaking change")
    if head == base:
        return Verdict(
            False,
            f"breaking change at contract version {version}: if it is deliberate, raise "
            f"{VERSION_FILE} and add a '## [<new version>]' section to {CHANGELOG} with a "
            "'**Breaking**' bullet saying what broke (docs/contract.md)",
        )
    assert section is not None
    if not re.search(r"^\s*[-*] .*\*\*Breaking\*\*", section, re.M):
        return Verdict(
            False,
            f"breaking change for {version}, but '## [{version}]' in {CHANGELOG} has no "
            "'**Breaking**' bullet listing it",
        )
    was = base_version.strip() if base_version is not None else "unversioned (0.1.0)"
    return Verdict(True, f"deliberate breaking change, contract {was} -> {version}")


_DECLARED_IDEMPOTENCY = re.compile(
    r'changed option "idempotency_level" from "IDEMPOTENCY_UNKNOWN" '
    r'to "(NO_SIDE_EFFECTS|IDEMPOTENT)"'
)


def is_break(finding: dict[str, str]) -> bool:
    """Whether one ``buf breaking --error-format json`` finding breaks clients.

    Everything does except an RPC's idempotency level declared where it was unset (see the
    module docstring).
    """
    return not (
        finding.get("type") == "RPC_SAME_IDEMPOTENCY_LEVEL"
        and _DECLARED_IDEMPOTENCY.search(finding.get("message", "")) is not None
    )


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


def main(argv: list[str] | None = None) -> int:
    """Run buf breaking against ``--base`` and apply :func:`verdict`; 0 when it may land."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git ref to compare the protos with")
    parser.add_argument("--buf", default="sdk/typescript/node_modules/.bin/buf")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args(argv)
    root: Path = args.root

    if _git(root, "cat-file", "-e", f"{args.base}:protos").returncode != 0:
        print(f"no protos at {args.base!r}: nothing to compare")
        return 0
    buf = subprocess.run(
        [args.buf, "breaking", "--error-format", "json", "--against", f".git#ref={args.base}"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if buf.returncode not in (0, 100):  # 100: breaking changes found; anything else: failed
        print(buf.stdout + buf.stderr, file=sys.stderr)
        print(f"buf breaking failed (exit {buf.returncode})", file=sys.stderr)
        return 2
    findings = [json.loads(line) for line in buf.stdout.splitlines() if line.strip()]
    breaks = [f for f in findings if is_break(f)]
    for f in findings:
        note = "" if f in breaks else "  (not a break: idempotency declared)"
        print(f"{f.get('path')}:{f.get('start_line')}: {f.get('message')}{note}")
    if buf.stderr:
        print(buf.stderr, end="", file=sys.stderr)
    shown = _git(root, "show", f"{args.base}:{VERSION_FILE}")
    changelog = root / CHANGELOG
    result = verdict(
        breaking=bool(breaks),
        base_version=shown.stdout if shown.returncode == 0 else None,
        head_version=(root / VERSION_FILE).read_text(),
        changelog=changelog.read_text() if changelog.exists() else "",
    )
    print(f"{'ok' if result.ok else 'FAIL'} against {args.base}: {result.reason}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())

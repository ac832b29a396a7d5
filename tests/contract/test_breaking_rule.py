"""`make breaking` (scripts/check_breaking.py): a break lands only with a version and a note.

The rule is tested on plain values, then once end to end in a scratch git repository with
the real ``buf`` (the one ``make setup`` installs), so the exit codes and the git plumbing
are pinned too. (The repository's own protos are held to the rule by ``make breaking``.)
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "sdk/typescript/node_modules/.bin/buf"

ENTRY_020 = """# Changelog

## [Unreleased]

## [0.2.0] - 2026-11-29

### Changed

- **Breaking**: Struct metadata became map<string, MetadataValue>.

## [0.1.0] - 2026-11-29
"""


def _script() -> ModuleType:
    path = ROOT / "scripts/check_breaking.py"
    spec = importlib.util.spec_from_file_location("check_breaking", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


CHECK = _script()


@pytest.mark.parametrize(
    ("breaking", "base", "head", "changelog", "ok", "says"),
    [
        (False, "0.2.0", "0.2.0", "", True, "no breaking change"),
        (True, "0.2.0", "0.2.0", ENTRY_020, False, "if it is deliberate, raise protos/VERSION"),
        (True, None, "0.1.0", "", False, "if it is deliberate"),  # unversioned base is 0.1.0
        (True, None, "0.2.0", ENTRY_020, True, "unversioned (0.1.0) -> 0.2.0"),
        (True, "0.1.0", "0.2.0", ENTRY_020, True, "0.1.0 -> 0.2.0"),
        (True, "0.1.0", "0.2.0", "", False, "has no '## [0.2.0]'"),
        (False, "0.1.0", "0.2.0", "## [0.1.0]\n- **Breaking**: x\n", False, "no '## [0.2.0]'"),
        (
            True,
            "0.1.0",
            "0.2.0",
            "## [0.2.0]\n### Added\n- a field\n## [0.1.0]\n- **Breaking**: old\n",
            False,
            "no '**Breaking**' bullet",
        ),
        (True, "0.3.0", "0.2.0", ENTRY_020, False, "went back from 0.3.0 to 0.2.0"),
        (False, "0.1.0", "0.2.0", ENTRY_020, True, "no breaking change"),
    ],
)
def test_verdict(
    breaking: bool, base: str | None, head: str, changelog: str, ok: bool, says: str
) -> None:
    got = CHECK.verdict(breaking, base, head, changelog)
    assert (got.ok, says in got.reason) == (ok, True), got.reason


def test_a_version_must_be_major_minor_patch() -> None:
    with pytest.raises(ValueError, match=r"MAJOR\.MINOR\.PATCH"):
        CHECK.verdict(False, None, "0.2", "")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_end_to_end_with_buf_in_a_scratch_repository(tmp_path: Path) -> None:
    if not BUF.exists():
        pytest.fail(f"{BUF} is missing; run `make setup`")
    repo = tmp_path / "repo"
    proto = repo / "protos/x/v1/x.proto"
    proto.parent.mkdir(parents=True)
    shutil.copy(ROOT / "buf.yaml", repo / "buf.yaml")
    proto.write_text('syntax = "proto3";\n\npackage x.v1;\n\nmessage M {\n  double n = 1;\n}\n')
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")

    def check() -> int:
        rc: int = CHECK.main(["--base", "HEAD", "--buf", str(BUF), "--root", str(repo)])
        return rc

    (repo / "protos/VERSION").write_text("0.1.0\n")
    assert check() == 0  # no change to the protos: nothing to object to
    proto.write_text(proto.read_text().replace("double n = 1;", "int64 n = 1;"))
    assert check() == 1  # a break at the base's version
    (repo / "protos/VERSION").write_text("0.2.0\n")
    assert check() == 1  # raised, but no changelog entry
    (repo / "CHANGELOG.md").write_text(ENTRY_020)
    assert check() == 0  # deliberate: version raised and the break listed



def test_declaring_an_idempotency_level_is_not_a_break_changing_one_is(tmp_path: Path) -> None:
    if not BUF.exists():
        pytest.fail(f"{BUF} is missing; run `make setup`")
    repo = tmp_path / "repo"
    proto = repo / "protos/x/v1/x.proto"
    proto.parent.mkdir(parents=True)
    shutil.copy(ROOT / "buf.yaml", repo / "buf.yaml")
    rpc = "rpc Get(GetRequest) returns (GetResponse)"
    proto.write_text(
        'syntax = "proto3";\n\npackage x.v1;\n\nservice XService {\n'
        f"  {rpc};\n}}\n\nmessage GetRequest {{}}\n\nmessage GetResponse {{}}\n"
    )
    (repo / "protos/VERSION").write_text("0.1.0\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")

    def check() -> int:
        rc: int = CHECK.main(["--base", "HEAD", "--buf", str(BUF), "--root", str(repo)])
        return rc

    declared = proto.read_text().replace(
        f"{rpc};", f"{rpc} {{\n    option idempotency_level = NO_SIDE_EFFECTS;\n  }}"
    )
    proto.write_text(declared)
    assert check() == 0  # unknown -> declared: older clients just never retried it
    _git(repo, "commit", "-qam", "declared")
    proto.write_text(declared.replace("NO_SIDE_EFFECTS", "IDEMPOTENT"))
    assert check() == 1  # a declared level changed: clients retry on it
    proto.write_text(declared.replace("    option idempotency_level = NO_SIDE_EFFECTS;\n", ""))
    assert check() == 1  # and removing one too


@pytest.mark.parametrize(
    ("finding", "breaks"),
    [
        ({"type": "RPC_SAME_IDEMPOTENCY_LEVEL", "message": 'RPC "A" on service "S" changed option '
          '"idempotency_level" from "IDEMPOTENCY_UNKNOWN" to "IDEMPOTENT".'}, False),
        ({"type": "RPC_SAME_IDEMPOTENCY_LEVEL", "message": 'RPC "A" on service "S" changed option '
          '"idempotency_level" from "NO_SIDE_EFFECTS" to "IDEMPOTENCY_UNKNOWN".'}, True),
        ({"type": "FIELD_SAME_TYPE", "message": "IDEMPOTENCY_UNKNOWN to IDEMPOTENT"}, True),
    ],
)
def test_only_a_newly_declared_idempotency_level_is_dropped(
    finding: dict[str, str], breaks: bool
) -> None:
    assert CHECK.is_break(finding) is breaks

"""The docs stand alone: versions and toolchains they state match the files; links resolve.

- One version: ``protos/VERSION`` equals the Python distribution's and packages' version,
  the npm package's, the Go constant and the Java artifact and constant (docs/clients.md,
  "Versions and compatibility").
- The toolchain versions README.md states ("Python 3.11+, Node.js 20.3+, Go 1.26+, Java 17+")
  are those of ``requires-python``, ``package.json`` engines, ``sdk/go/go.mod`` and the
  Java release of ``sdk/java/pom.xml``.
- Every relative link of README.md and docs/*.md names a file of this repository, and no
  page refers to the design notes this project was started from, which are not in it.
"""

from __future__ import annotations

import json
import re
import tomllib

import neural_heatmap
from neural_heatmap_contract.version import VERSION

from tests.docs.doc_blocks import REPO_ROOT, doc_files

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGE_JSON = json.loads((REPO_ROOT / "sdk/typescript/package.json").read_text(encoding="utf-8"))
GO_MOD = (REPO_ROOT / "sdk/go/go.mod").read_text(encoding="utf-8")
POM = (REPO_ROOT / "sdk/java/pom.xml").read_text(encoding="utf-8")
# The project's own version: the first <version> after its <artifactId>.
POM_VERSION = re.search(r"<artifactId>neural-heatmap-client</artifactId>\s*<version>([^<]+)<", POM)
JAVA_VERSION = re.search(
    r'public static final String VERSION = "([^"]+)"',
    (REPO_ROOT / "sdk/java/src/main/java/dev/neuralheatmap/NeuralHeatmapClient.java")
    .read_text(encoding="utf-8"))


def _go_constant(path: str, name: str) -> str:
    text = (REPO_ROOT / path).read_text(encoding="utf-8")
    match = re.search(rf'^const {name} = "([^"]+)"', text, re.M)
    assert match, f"no const {name} in {path}"
    return match.group(1)


def test_one_version_for_the_contract_and_every_sdk() -> None:
    contract = (REPO_ROOT / "protos/VERSION").read_text(encoding="utf-8").strip()
    ts = re.search(r'export const VERSION = "([^"]+)"',
                   (REPO_ROOT / "sdk/typescript/src/version.ts").read_text(encoding="utf-8"))
    assert ts
    assert {
        "protos/VERSION": contract,
        "pyproject.toml": PYPROJECT["project"]["version"],
        "neural_heatmap_contract.VERSION": VERSION,
        "neural_heatmap.__version__": neural_heatmap.__version__,
        "package.json": PACKAGE_JSON["version"],
        "src/version.ts": ts.group(1),
        "neuralheatmap.Version": _go_constant("sdk/go/neuralheatmap/version.go", "Version"),
        "pom.xml": POM_VERSION.group(1) if POM_VERSION else None,
        "NeuralHeatmapClient.VERSION": JAVA_VERSION.group(1) if JAVA_VERSION else None,
    } == dict.fromkeys(
        ["protos/VERSION", "pyproject.toml", "neural_heatmap_contract.VERSION",
         "neural_heatmap.__version__", "package.json", "src/version.ts",
         "neuralheatmap.Version", "pom.xml", "NeuralHeatmapClient.VERSION"], contract)
    assert f"## [{contract}]" in (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_readme_toolchain_versions_are_the_files() -> None:
    intro = README.split("\n## ", 1)[0]  # the toolchain sentences open the README

    def stated(pattern: str) -> str:
        found = re.search(pattern, intro)
        assert found, f"README no longer states {pattern!r}"
        return found.group(1)

    python = stated(r"Python (\d+\.\d+)\+")
    node = stated(r"Node\.js (\d+(?:\.\d+)?)\+")
    assert PYPROJECT["project"]["requires-python"] == f">={python}"
    assert PACKAGE_JSON["engines"]["node"] == f">={node}"
    go_line = re.search(r"^go (\d+)\.(\d+)(?:\.\d+)?$", GO_MOD, re.M)
    assert go_line
    assert f"{go_line.group(1)}.{go_line.group(2)}" == stated(r"Go (\d+\.\d+)\+")
    release = stated(r"Java (\d+)\+ with Maven")
    assert f"<maven.compiler.release>{release}</maven.compiler.release>" in POM


LINK = re.compile(r"\]\(([^)\s]+)\)")
OUTSIDE = ("CONTRACT.md", "DESIGN.md", "/work/", "seed/neural_heatmap_python_api.md")


def test_links_resolve_and_nothing_points_outside_the_repository() -> None:
    problems = []
    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        for target in LINK.findall(text):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            if not (path.parent / target.split("#", 1)[0]).exists():
                problems.append(f"{path.relative_to(REPO_ROOT)}: link to missing {target}")
        if not path.name.startswith("seed-"):  # the seed copies are kept verbatim
            problems += [f"{path.relative_to(REPO_ROOT)}: names {name}, not in this repository"
                         for name in OUTSIDE if name in text]
    assert not problems, "\n".join(problems)

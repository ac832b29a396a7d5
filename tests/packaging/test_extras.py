"""What the install promises (issue 27 item 4), read from pyproject.toml and the installed
distributions' metadata: no wheel is built, so these run in well under a second.

The traps reproduced: the five notebooks import matplotlib, which no extra a notebook
user would pick installed; building warned that the TOML-table ``project.license``
stops being supported.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from tests.support._process import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
NOTEBOOKS = sorted((REPO_ROOT / "sdk/python/jupyter_examples").glob("*.ipynb"))
OWN_MODULES = {"neural_heatmap", "neural_heatmap_cli", "neural_heatmap_contract",
               "neural_heatmap_server", "neural_heatmap_bridge"}


def _name(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _closure(extra: str) -> set[str]:
    """Every distribution ``pip install neural-heatmap[extra]`` brings, through the
    installed distributions' own requirements (their markers evaluated here)."""
    wanted = [Requirement(r) for r in PROJECT["dependencies"]]
    extras = {extra}
    while extras:  # the project's own extras may name each other (notebooks -> data)
        for r in PROJECT["optional-dependencies"][extras.pop()]:
            req = Requirement(r)
            if _name(req.name) == "neural-heatmap":
                extras |= req.extras
            else:
                wanted.append(req)
    seen: set[str] = set()
    while wanted:
        req = wanted.pop()
        name = _name(req.name)
        if name in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        for sub in metadata.requires(req.name) or []:
            child = Requirement(sub)
            if child.marker is None or any(child.marker.evaluate({"extra": e})
                                           for e in ("", *req.extras)):
                wanted.append(child)
    return seen


def _imports(notebook: Path) -> set[str]:
    """Top-level modules the notebook's code cells import."""
    modules: set[str] = set()
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        tree = compile("".join(cell["source"]), notebook.name, "exec",
                       flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module.split(".")[0])
    return modules


def test_the_notebooks_extra_installs_what_every_notebook_imports() -> None:
    assert len(NOTEBOOKS) == 5
    installed = _closure("notebooks")
    assert {"matplotlib", "ipykernel", "pandas", "pyarrow", "tensorboard"} <= installed
    providers = metadata.packages_distributions()
    for notebook in NOTEBOOKS:
        third_party = _imports(notebook) - set(sys.stdlib_module_names) - OWN_MODULES
        assert third_party, notebook.name  # the parse found the imports
        for module in third_party:
            dists = {_name(d) for d in providers.get(module, [])}
            assert dists & installed, (notebook.name, module, dists)


def test_the_license_is_an_spdx_expression_with_its_file() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert "Apache License" in (REPO_ROOT / "LICENSE").read_text()[:200]
    # setuptools reads PEP 639's string form from 77 on; the floor says so, and holds here
    floor = Requirement(next(r for r in PYPROJECT["build-system"]["requires"]
                             if r.startswith("setuptools")))
    assert floor.specifier.contains("77") and not floor.specifier.contains("76.9")
    assert floor.specifier.contains(metadata.version("setuptools"))

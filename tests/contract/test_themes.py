"""The visual themes as data (protos/policy/themes.json), shared by the PNG renderer and the
browser dashboard (the TypeScript SDK's ``src/themes_gen.ts``)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest
from neural_heatmap_contract import enums, themes

ROOT = Path(__file__).resolve().parents[2]
DATA = json.loads((ROOT / "protos/policy/themes.json").read_text())
TS = ROOT / "sdk/typescript/src/themes_gen.ts"
RENDER = ROOT / "server/neural_heatmap_server/render.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_themes", ROOT / "scripts/gen_themes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_theme_word_has_data_and_no_data_lacks_a_word() -> None:
    assert list(DATA["themes"]) == list(enums.THEMES)
    assert list(themes.THEMES) == list(enums.THEMES)


def test_checked_in_files_are_what_the_generator_writes() -> None:
    gen = _generator()
    for path, text in gen.outputs(gen.load()).items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is stale: run make gen"


def test_typescript_data_equals_the_data_file() -> None:
    """The JSON literal in themes_gen.ts, read back, is the file's data."""
    text = TS.read_text()
    literal = text[text.index("} = {", text.index("THEME_DATA")) + 4:].rstrip().rstrip(";")
    assert json.loads(literal) == {"missing": DATA["missing"], "themes": DATA["themes"]}


@pytest.mark.parametrize("name", list(enums.THEMES))
def test_python_data_equals_the_data_file(name: str) -> None:
    theme, data = themes.THEMES[name], DATA["themes"][name]
    assert theme.name == name
    assert list(theme.colors) == data["colors"]
    assert (theme.background, theme.text, theme.frame) == (
        data["background"], data["text"], data["frame"])
    assert (theme.scanline_period, theme.scanline_shade) == (
        data["scanlines"]["period"], data["scanlines"]["shade"])
    assert theme.isolines == data["isolines"]
    assert DATA["missing"] == themes.MISSING_COLOR


def test_only_custom_takes_the_requests_colours() -> None:
    """A theme without stops draws the request's custom_colors; every other has a scale."""
    assert [n for n, t in themes.THEMES.items() if not t.colors] == ["custom"]
    assert all(len(t.colors) >= 2 for n, t in themes.THEMES.items() if n != "custom")


def test_the_renderer_has_no_per_theme_branch() -> None:
    """render.py reads the data; no step asks which theme it is."""
    words = "|".join(enums.THEMES)
    assert re.findall(rf"theme\s*(==|!=|\bin\b)|[\"']({words})[\"']", RENDER.read_text()) == []


def test_the_generator_refuses_a_bad_colour(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(DATA))
    bad["themes"]["plasma"]["background"] = "white"
    (tmp_path / "themes.json").write_text(json.dumps(bad))
    with pytest.raises(SystemExit, match="plasma background: 'white' is not"):
        _generator().load(tmp_path / "themes.json")

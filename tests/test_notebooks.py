"""The chapter sources themselves: clean, parameterised the same way, readable."""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

import nbformat
import pytest

from clipdistill.config import Config

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FIELDS = {f.name for f in fields(Config)}


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_sources_are_committed_without_outputs(path):
    for cell in _code(nbformat.read(path, as_version=4)):
        assert not cell.outputs and cell.execution_count is None


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_parameters_cell_declares_profile_overrides_and_config_fields(path):
    cells = _code(nbformat.read(path, as_version=4))
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = {t.id for node in ast.parse(tagged[0].source).body if isinstance(node, ast.Assign)
             for t in node.targets}
    assert {"profile", "overrides"} <= names
    assert names - {"profile", "overrides"} <= FIELDS, "declare only Config fields (= None)"
    # Anywhere else, a top-level variable named like a parameter would become an override
    # when the setup cell is run again by hand: chapters never make one.
    for cell in cells:
        if cell is tagged[0]:
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # IPython magics
            continue
        made = {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(t, ast.Name)}
        assert not made & FIELDS, f"{path.stem} assigns {made & FIELDS} outside its parameters cell"


COLUMN = 80  # characters of code the book's column shows at 1280 px (book/_static/clipdistill.css)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_code_fits_the_book_column(path):
    long = [f"cell {i}: {line!r}"
            for i, cell in enumerate(nbformat.read(path, as_version=4).cells)
            if cell.cell_type == "code"
            for line in cell.source.splitlines() if len(line) > COLUMN]
    assert not long, f"{path.stem}: code lines over {COLUMN} characters:\n" + "\n".join(long)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_papermill_lists_each_parameter_with_its_help(path):
    """`papermill --help-notebook` shows every declared knob with a comment saying what it is."""
    import papermill as pm

    params = pm.inspect_notebook(str(path))
    assert {"profile", "overrides"} <= set(params)
    for name, info in params.items():
        assert info["help"].strip(), f"{path.stem}: parameter {name!r} has no comment"
        if name not in ("profile", "overrides"):
            assert info["default"] == "None", f"{path.stem}: {name} must default to None"


# Words of the project's own history that a reader cannot look up.
IN_HOUSE = re.compile(r"the plan|plan's|seed 00[0-9]|source documents?|"
                      r"tutorial we started from|experiment plan", re.IGNORECASE)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_chapter_speaks_in_its_own_voice(path):
    found = [m.group(0) for cell in nbformat.read(path, as_version=4).cells
             for m in IN_HOUSE.finditer(cell.source)]
    assert not found, f"{path.stem}: in-house words {found}"


def test_the_book_pages_docs_and_docstrings_speak_in_their_own_voice(repo_root):
    texts = [*(repo_root / "book").glob("*.md"), *(repo_root / "src").rglob("*.py"),
             repo_root / "README.md", repo_root / "CONTRIBUTING.md",
             *(repo_root / "benchmarks").glob("*.py"), *(repo_root / "benchmarks").glob("*.md")]
    found = [f"{p.relative_to(repo_root)}: {m.group(0)!r}" for p in texts
             for m in IN_HOUSE.finditer(p.read_text())]
    assert not found, "in-house words:\n" + "\n".join(found)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_chapter_ends_with_exercises_each_with_a_hint(path):
    cells = nbformat.read(path, as_version=4).cells
    last = next(c for c in reversed(cells) if c.cell_type == "markdown")
    assert last.source.startswith("## Exercises"), f"{path.stem}: no exercises at the end"
    items = re.findall(r"^\d+\. \*\*", last.source, re.MULTILINE)
    hints = re.findall(r"^\s*:::\{dropdown\} Hint$", last.source, re.MULTILINE)
    assert 3 <= len(items) <= 5, f"{path.stem}: {len(items)} exercises"
    assert len(hints) == len(items), f"{path.stem}: every exercise needs one hint"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_a_fixed_summary_comes_before_the_exercises(path):
    # What a reader should take away, in words true whatever the run found (d2l's habit).
    marks = [c.source.split("\n", 1)[0] for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "markdown" and c.source.startswith("## ")]
    assert marks[-2:] == ["## Summary", "## Exercises"], f"{path.stem}: {marks[-3:]}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_imports_cell_is_collapsed_and_setup_stays_visible(path):
    cells = _code(nbformat.read(path, as_version=4))
    setup = [c for c in cells if "cd.setup(" in c.source]
    assert len(setup) == 1 and "hide-input" not in setup[0].metadata.get("tags", [])
    after = cells[cells.index(setup[0]) + 1]
    assert "hide-input" in after.metadata.get("tags", []), f"{path.stem}: imports cell not hidden"
    assert "def say(" not in "".join(c.source for c in cells), "use cd.say(cfg, ...)"

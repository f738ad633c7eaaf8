"""The chapter sources themselves: clean, parameterised the same way, readable."""

from __future__ import annotations

import ast
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

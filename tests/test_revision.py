"""A results file names the code that wrote it: git commit in a checkout, pip's record otherwise."""

from __future__ import annotations

import importlib.metadata as md
import json
import subprocess
from pathlib import Path

import pytest

from clipdistill import revision
from clipdistill.results import provenance


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.skipif(subprocess.run(["git", "--version"], capture_output=True).returncode != 0,
                    reason="git is not installed")
def test_a_checkout_gives_its_commit_and_whether_tracked_files_changed(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = _git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "untracked.json").write_text("{}")  # outputs and caches are not code changes
    assert revision._checkout_commit(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "a.py").write_text("x = 2\n")
    assert revision._checkout_commit(tmp_path) == {"commit": head, "dirty": True}
    assert revision.short({"commit": head, "dirty": True}) == head[:7] + "+changes"
    assert revision._checkout_commit(tmp_path / "a.py") is None  # not a repository


def test_a_pip_install_from_git_gives_the_commit_pip_recorded(monkeypatch):
    class Dist:
        def read_text(self, name):
            assert name == "direct_url.json"
            return json.dumps({"url": "https://github.com/o/clipdistill",
                               "vcs_info": {"vcs": "git", "commit_id": "ab" * 20}})

    monkeypatch.setattr(md, "distribution", lambda name: Dist())
    assert revision._installed_commit() == {"commit": "ab" * 20, "dirty": False}


def test_provenance_records_the_code():
    code = provenance()["code"]
    assert code["version"] and set(code) == {"version", "commit", "dirty"}
    assert revision.short(None) == "-" and revision.short({"commit": None}) == "-"

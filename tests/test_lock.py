"""The locked environment: the lock covers pyproject.toml, setup installs from it, results say so."""

from __future__ import annotations

import importlib.metadata as md
import subprocess

import pytest
from packaging.requirements import Requirement

from clipdistill import lock


def _declared(repo_root) -> list[Requirement]:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in (*project["dependencies"], *project["optional-dependencies"]["test"])]


def test_the_lock_pins_every_dependency_within_its_floor(repo_root):
    """A dependency added or raised in pyproject.toml without `make lock` fails here."""
    pinned = lock.pins(repo_root / "requirements" / "lock.txt")
    for req in _declared(repo_root):
        name = lock._name(req.name)
        assert name in pinned, f"{req.name} is not in requirements/lock.txt: run `make lock`"
        assert req.specifier.contains(pinned[name], prereleases=True), \
            f"the lock's {req.name}=={pinned[name]} is outside {req}: run `make lock`"


def test_setup_installs_the_lock_by_default_and_the_newest_on_request(repo_root):
    def planned(*args: str) -> str:
        return subprocess.run(["make", "-n", "setup", "VENV=/nonexistent", *args], cwd=repo_root,
                              capture_output=True, text=True, check=True).stdout

    locked = planned()
    assert "-r requirements/lock.txt" in locked and "--no-deps -e" in locked
    newest = planned("LOCK=")
    assert "-r " not in newest and "--no-deps" not in newest and '-e ".[test]"' in newest


def test_results_say_which_lock_the_environment_matches(tmp_path, monkeypatch):
    numpy = md.version("numpy")
    (tmp_path / "requirements").mkdir()
    path = tmp_path / "requirements" / "lock.txt"
    path.write_text(f"numpy=={numpy} \\\n    --hash=sha256:00\npillow==0.0.1 ; sys_platform == 'nowhere'\n")
    monkeypatch.setattr(lock, "checkout", lambda: None)  # this project's own lock aside
    found = lock.status(tmp_path)
    assert found["lock"] == "requirements/lock.txt" and found["matches"] and found["packages"] == 1
    path.write_text("numpy==0.0.1\n")
    off = lock.status(tmp_path)
    assert not off["matches"] and off["differs"] == [f"numpy {numpy} (lock: 0.0.1)"]
    assert lock.status(tmp_path / "elsewhere") == {
        "lock": None, "matches": False, "why": f"no lock file under {tmp_path / 'elsewhere'}"}


def test_a_project_folder_without_a_lock_is_measured_against_the_checkout_it_runs_from(tmp_path):
    """The smoke book runs in a copy without requirements/: the package's own lock counts."""
    found = lock.status(tmp_path)
    assert found["lock"] == "requirements/lock.txt" and "matches" in found

"""Where the book's sources live on GitHub: one URL, set in ``_config.yml``.

Two things a reader clicks or runs are built from it: the "Open in Colab" link on every
chapter page (``book/_ext/colab_links.py`` asks :func:`colab_url`) and the first cell of
every notebook, which installs the package when the notebook runs on Colab. The cell
holds the URL literally (Colab opens the notebook alone), so
``clipdistill set-repository URL`` rewrites ``_config.yml`` and every notebook's cell
together, and :func:`disagreements` (a test) keeps them equal.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .config import ConfigError

__all__ = ["PLACEHOLDER_URL", "INSTALL_CELL_ID", "normalise_url", "read_repository",
           "colab_url", "install_cell_source", "ensure_install_cell", "set_repository",
           "disagreements"]

# The default until whoever publishes the book runs `clipdistill set-repository`.
PLACEHOLDER_URL = "https://github.com/clipdistill/clipdistill"
DEFAULT_BRANCH = "main"
INSTALL_CELL_ID = "colab-install"
COLAB = "https://colab.research.google.com/github"
_GITHUB = re.compile(r"^https://github\.com/([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9._-]+?)"
                     r"(?:\.git)?/?$")
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]+$")


def normalise_url(url: str) -> str:
    """``https://github.com/OWNER/NAME`` (no ``.git``, no trailing slash), or a clear error:
    Colab opens notebooks from GitHub only."""
    match = _GITHUB.match(url.strip())
    if not match:
        raise ConfigError(f"Repository URL {url!r} is not https://github.com/OWNER/NAME "
                          "(Colab opens notebooks from GitHub only).")
    return f"https://github.com/{match[1]}/{match[2]}"


def _check_branch(branch: str) -> str:
    if not _BRANCH.match(branch) or ".." in branch:
        raise ConfigError(f"Branch {branch!r} is not a plain git branch or tag name.")
    return branch


def read_repository(root: Path | str) -> tuple[str, str]:
    """``(url, branch)`` from ``_config.yml``'s ``repository:`` block."""
    import yaml

    path = Path(root) / "_config.yml"
    block: dict[str, Any] = (yaml.safe_load(path.read_text()) or {}).get("repository") or {}
    if not block.get("url"):
        raise ConfigError(f"{path} has no repository.url: run `clipdistill set-repository "
                          "https://github.com/OWNER/NAME`.")
    return normalise_url(str(block["url"])), _check_branch(str(block.get("branch") or DEFAULT_BRANCH))


def colab_url(url: str, branch: str, notebook: str) -> str:
    """The Colab address that opens ``notebook`` (a path in the repository) from GitHub."""
    owner_name = normalise_url(url).removeprefix("https://github.com/")
    return f"{COLAB}/{owner_name}/blob/{_check_branch(branch)}/{notebook.lstrip('/')}"


def install_cell_source(url: str, branch: str) -> str:
    """Plain Python (no ``!pip`` magic: linters and papermill read it as code)."""
    return (
        "# On Colab, install the clipdistill package; elsewhere this cell does nothing.\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        f'repo_url = "{normalise_url(url)}"\n'
        'if "google.colab" in sys.modules:\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q",\n'
        f'                    f"clipdistill @ git+{{repo_url}}@{_check_branch(branch)}"],\n'
        "                   check=True)"
    )


def ensure_install_cell(nb: Any, url: str, branch: str) -> bool:
    """Give ``nb`` the install cell for ``url`` as its first code cell (tagged
    ``remove-cell``: the book hides it); return whether anything changed."""
    import nbformat

    source = install_cell_source(url, branch)
    cells = [c for c in nb.cells if c.get("id") == INSTALL_CELL_ID]
    if cells:
        cell = cells[0]
        if cell.source == source:
            return False
        cell.source = source
        return True
    cell = nbformat.v4.new_code_cell(source, id=INSTALL_CELL_ID)
    cell.metadata["tags"] = ["remove-cell"]
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(first_code, cell)
    return True


def _chapter_sources(root: Path) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _rewrite_config(path: Path, url: str, branch: str) -> None:
    """Set ``url:``/``branch:`` inside the ``repository:`` block, keeping every comment."""
    lines = path.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"^repository:\s*(#.*)?$", line)), None)
    if start is None:
        lines += ["", "repository:", f"  url: {url}", f"  branch: {branch}"]
    else:
        end = start + 1
        while end < len(lines) and (not lines[end].strip() or lines[end][:1] in " \t#"):
            end += 1
        wanted = {"url": url, "branch": branch}
        for i in range(start + 1, end):
            key = re.match(r"^(\s+)(url|branch):", lines[i])
            if key:
                lines[i] = f"{key[1]}{key[2]}: {wanted.pop(key[2])}"
        lines[start + 1:start + 1] = [f"  {k}: {v}" for k, v in wanted.items()]
    path.write_text("\n".join(lines) + "\n")


def set_repository(root: Path | str, url: str, branch: str = DEFAULT_BRANCH) -> list[Path]:
    """Point the book's Colab links and every notebook's install cell at ``url``/``branch``;
    return the files changed."""
    import nbformat

    root = Path(root)
    url, branch = normalise_url(url), _check_branch(branch)
    changed = []
    config = root / "_config.yml"
    before = config.read_text()
    _rewrite_config(config, url, branch)
    if read_repository(root) != (url, branch):  # pragma: no cover - a layout we do not know
        config.write_text(before)
        raise ConfigError(f"Could not set repository.url in {config}; edit it by hand.")
    if config.read_text() != before:
        changed.append(config)
    for path in _chapter_sources(root):
        nb = nbformat.read(path, as_version=4)
        if ensure_install_cell(nb, url, branch):
            nbformat.write(nb, path)
            changed.append(path)
    return changed


def disagreements(root: Path | str) -> list[str]:
    """Notebooks whose install cell is missing, not first, or not for ``_config.yml``'s
    repository (empty when everything agrees)."""
    import nbformat

    root = Path(root)
    url, branch = read_repository(root)
    want = install_cell_source(url, branch)
    problems = []
    for path in _chapter_sources(root):
        code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        if not code or code[0].get("id") != INSTALL_CELL_ID:
            problems.append(f"{path.name}: the first code cell is not the Colab install cell")
        elif code[0].source != want:
            problems.append(f"{path.name}: the install cell is not for {url}@{branch}")
        elif "remove-cell" not in code[0].metadata.get("tags", []):
            problems.append(f"{path.name}: the install cell is not tagged remove-cell")
    return problems

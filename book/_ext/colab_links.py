"""An "Open in Colab" link under the title of every chapter page.

The book renders the executed copies in ``book/chapters/``, which are not in the
repository, so the theme's own Colab button (built from the page's path) would open a
missing file. This link opens the chapter's source, ``notebooks/NN_name.ipynb``, from the
repository named in ``_config.yml`` (``repository.url`` and ``repository.branch``; set
both with ``clipdistill set-repository``). The address is a Sphinx config value, so a new
URL rebuilds every page instead of leaving stale links in cached ones.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

from clipdistill.config import ConfigError
from clipdistill.repository import colab_url, read_repository

logger = logging.getLogger(__name__)
CHAPTER = re.compile(r"^book/chapters/(\d\d_[A-Za-z0-9_]+)$")
STYLE = ("display:inline-block;padding:0.2em 0.7em;border:1px solid #f9ab00;"
         "border-radius:4px;background:#fff8e1;color:#202124;text-decoration:none;"
         "font-size:0.9em")


def _read_repository(app, config) -> None:
    try:
        config.clipdistill_repository = list(read_repository(app.srcdir))
    except (ConfigError, OSError) as exc:
        logger.warning(f"No Open in Colab links: {exc}")
        config.clipdistill_repository = []


def _add_link(app, doctree) -> None:
    match = CHAPTER.match(app.env.docname)
    if not match or not app.config.clipdistill_repository:
        return
    notebook = f"notebooks/{match[1]}.ipynb"
    if not (Path(app.srcdir) / notebook).is_file():
        logger.warning(f"{app.env.docname}: no source {notebook} for its Open in Colab link",
                       location=app.env.docname)
        return
    url, branch = app.config.clipdistill_repository
    href = html.escape(colab_url(url, branch, notebook))
    link = nodes.raw("", (
        f'<p class="clipdistill-launch"><a class="clipdistill-colab" href="{href}" '
        f'style="{STYLE}" title="Open {notebook} in Google Colab">'
        "&#9654; Open in Colab</a></p>"), format="html")
    section = doctree.next_node(nodes.section)
    if section is not None and section.children and isinstance(section[0], nodes.title):
        section.insert(1, link)
    else:
        doctree.insert(0, link)


def setup(app):
    app.add_config_value("clipdistill_repository", [], "env")
    app.connect("config-inited", _read_repository)
    app.connect("doctree-read", _add_link)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

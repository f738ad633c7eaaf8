"""Drop exact-duplicate <script> tags from every page.

With Sphinx 7, sphinx-thebe's inline configuration script (it declares `const
THEBE_JS_URL`) is registered twice, so each page throws "Identifier 'THEBE_JS_URL' has
already been declared" in the browser. Scripts with a file are already de-duplicated by
Sphinx; this does the same for inline ones.
"""


def _unique(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        attrs = getattr(script, "attributes", {}) or {}
        # the same inline script arrives once with filename None and once with ""
        key = (getattr(script, "filename", None) or "", tuple(sorted(attrs.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _unique, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

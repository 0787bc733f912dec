"""Keep the built pages self-contained: drop the Thebe loader that jupyter-book always adds.

jupyter-book loads ``sphinx_thebe`` unconditionally; it puts ``THEBE_JS_URL`` (a CDN address on
unpkg.com) and ``sphinx-thebe.js`` on every page even with Thebe launch buttons off. This book has
no launch buttons, so both are dead weight that point outside the build; remove them per page.
"""


def _is_thebe(asset) -> bool:
    name = str(getattr(asset, "filename", "") or "")
    body = str(getattr(asset, "attributes", {}).get("body", ""))
    return "sphinx-thebe" in name or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not _is_thebe(asset)]


def setup(app):
    app.connect("html-page-context", _drop_thebe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""Build the book selected by ``AVSNN_BOOK_PROFILE`` (:mod:`avsnn.tools.book`): the CPU book or the GPU book.

myst-nb reads each chapter into a notebook through the reader ``myst_nb.sphinx_.create_nb_reader`` returns;
this extension wraps that reader so that, for the GPU book, each chapter gets its parameters in a cell tagged
``injected-parameters`` after its ``parameters`` cell, as papermill gives them. The page shows the cell, and
the execution cache keys the chapter by it. For the CPU book (``default``) nothing is wrapped. The book
is also a Sphinx configuration value, so a build of the other book into the same folder reads every page
again.
"""

import dataclasses
import functools

from myst_nb import sphinx_
from sphinx.util import logging

from avsnn.tools.book import book_profile, describe, prepare_chapter

logger = logging.getLogger(__name__)


def with_book_parameters(create_reader, profile):
    """``create_reader`` (myst-nb's ``create_nb_reader``), its notebooks prepared for the book ``profile``."""
    if getattr(create_reader, "avsnn_book_profile", None) == profile:
        return create_reader
    create_reader = getattr(create_reader, "__wrapped__", create_reader)

    @functools.wraps(create_reader)
    def create(path, md_config, nb_config, content):
        reader = create_reader(path, md_config, nb_config, content)
        if reader is None:  # not a notebook: plain Markdown
            return None
        read = reader.read
        return dataclasses.replace(reader, read=lambda text: prepare_chapter(read(text), path, profile))

    create.avsnn_book_profile = profile
    return create


def setup(app):
    """Sphinx entry point: choose the book once per build and wrap the reader for the GPU book."""
    profile = book_profile()
    logger.info(describe(profile))
    # a config value that re-reads every page when the book changes (Sphinx compares it with the last build's)
    app.add_config_value("avsnn_book_profile", profile, "env")
    if profile != "default":
        sphinx_.create_nb_reader = with_book_parameters(sphinx_.create_nb_reader, profile)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

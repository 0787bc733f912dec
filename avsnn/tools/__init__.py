"""Build tooling for the book: chapter re-runs and golden notebooks.

Re-run a chapter with new parameters (:mod:`~avsnn.tools.chapter`) and write the golden notebooks
the tests compare against (:mod:`~avsnn.tools.goldens`).
"""

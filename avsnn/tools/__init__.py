"""Build tooling for the book: re-run a chapter with new parameters (:mod:`~avsnn.tools.chapter`) and
write the golden notebooks the tests compare against (:mod:`~avsnn.tools.goldens`)."""

"""Shared pytest set-up.

The nbval golden notebooks train small runs into one shared run store; under
``pytest -n 2 --dist loadgroup`` they are all put in one xdist group so they execute
one after the other on a single worker while the unit tests use the other.
"""
import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.xdist_group("goldens"))

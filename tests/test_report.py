import pytest

from avsnn.report import markdown_table, percent


def test_markdown_table_formats_floats_and_checks_widths():
    table = markdown_table([("a", 0.12345, 3)], ["name", "x", "n"], digits=3)
    assert table.splitlines() == ["| name | x | n |", "| --- | --- | --- |", "| a | 0.123 | 3 |"]
    with pytest.raises(ValueError, match="3 cells"):
        markdown_table([("a", 1)], ["name", "x", "n"])
    assert percent(0.5) == 50.0

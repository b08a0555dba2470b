import pandas as pd

from components.export import escape_formula, to_html_table, to_safe_csv


def test_formula_cells_are_escaped_numbers_are_not():
    df = pd.DataFrame({"=cmd": ["=1+1", "+x", "-y", "@z", "\tq", "\rr", "ok"], "v": [-1.5, 2, 3, 4, 5, 6, 7]})
    text = to_safe_csv(df)
    lines = text.splitlines()
    assert lines[0] == "'=cmd,v"
    assert lines[1] == "'=1+1,-1.5"
    assert lines[2].startswith("'+x") and lines[3].startswith("'-y") and lines[4].startswith("'@z")
    assert "'\tq" in text and lines[-1] == "ok,7.0"
    assert "\"'\rr\"" in text  # a cell holding CR is quoted, so it cannot break the row
    assert escape_formula(-3) == -3


def test_html_table_escapes_text():
    html = to_html_table(pd.DataFrame({"a<b": ["<script>alert(1)</script>", None]}), caption="T & C")
    assert "<script>" not in html and "&lt;script&gt;" in html and "a&lt;b" in html
    assert "<caption>T &amp; C</caption>" in html and "<td></td>" in html

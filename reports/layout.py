"""Column widths and row heights of a :class:`~components.clinical_tables.ClinicalTable` laid out at a font size in
a given width: shared by the slide tables (which must be split over slides by height) and the Word tables.

Text widths are estimated from character counts (Arial: about 0.5 em per character on average, digits 0.556 em);
a cell's text wraps at spaces within its column.
"""
from __future__ import annotations

from dataclasses import dataclass

EM_PER_CHAR = 0.55
LINE_SPACING = 1.2
#: room a column keeps beyond its estimated text (estimates are averages; a digit is 0.556 em)
SLACK = 0.08


def text_width(text: str, pt: float) -> float:
    """Estimated width (inches) of one line of ``text`` at ``pt`` points."""
    return len(text) * EM_PER_CHAR * pt / 72.0


def _longest_word(text: str) -> str:
    return max(str(text).replace("\n", " ").split(" "), key=len, default="")


def cell_lines(text: str, width_in: float, pt: float) -> int:
    """Lines a cell's text takes in a column ``width_in`` wide (explicit line breaks kept, wrapping at spaces)."""
    lines = 0
    for part in str(text).split("\n"):
        words, current, n = part.split(" "), "", 1
        for word in words:
            trial = f"{current} {word}".strip()
            if current and text_width(trial, pt) > width_in:
                n += 1
                current = word
            else:
                current = trial
        lines += n
    return max(lines, 1)


@dataclass
class TableLayout:
    widths: list[float]            # inches per column
    natural: list[float]           # inches per column the longest lines need
    header_lines: list[int]        # per header row (spanner row, column row)
    row_lines: list[int]           # per body row
    pt: float
    padding: float                 # inches of cell margin, left + right
    padding_v: float               # inches of cell margin, top + bottom

    def line_height(self) -> float:
        return LINE_SPACING * self.pt / 72.0

    def row_height(self, lines: int) -> float:
        return lines * self.line_height() + self.padding_v

    @property
    def header_height(self) -> float:
        return sum(self.row_height(n) for n in self.header_lines)


def layout_table(table, pt: float, total_in: float, padding: float = 0.16, padding_v: float = 0.08,
                 indent: float = 0.25) -> TableLayout:
    """Column widths that fit ``total_in``: each column as wide as its longest line, shrunk (down to its longest
    word) in proportion to how much it can give when the table is too wide; then the lines of every row."""
    ncol = len(table.columns)
    texts = [[str(c) for c in table.columns]] + [[c.export_text for c in r.cells] for r in table.rows]
    natural, minimum = [], []
    for j in range(ncol):
        column = [row[j] for row in texts if j < len(row)]
        extra = indent if j == 0 else 0.0
        natural.append(max(text_width(line, pt) for t in column for line in t.split("\n")) + padding + extra + SLACK)
        minimum.append(max(text_width(_longest_word(t), pt) for t in column) + padding + extra + SLACK)
    widths = list(natural)
    if sum(widths) > total_in:
        if sum(minimum) >= total_in:
            widths = [m * total_in / sum(minimum) for m in minimum]
        else:                      # the widest columns give first (text wraps; numbers stay on one line)
            lo, hi = 0.0, max(natural)
            for _ in range(60):
                level = (lo + hi) / 2
                if sum(max(m, min(n, level)) for n, m in zip(natural, minimum)) > total_in:
                    hi = level
                else:
                    lo = level
            widths = [max(m, min(n, lo)) for n, m in zip(natural, minimum)]
            spare = total_in - sum(widths)
            widest = max(range(ncol), key=lambda j: natural[j] - widths[j])
            widths[widest] += spare
    elif ncol:
        widths = [w * total_in / sum(widths) for w in widths]       # fill the width: easier to read
    header = []
    if table.spanners:
        j, n = 0, 1
        for label, span in table.spanners:
            n = max(n, cell_lines(label, sum(widths[j:j + span]) - padding, pt))
            j += span
        header.append(n)
    header.append(max(cell_lines(str(c), w - padding, pt) for c, w in zip(table.columns, widths)))
    rows = []
    for r in table.rows:
        rows.append(max(cell_lines(c.export_text, w - padding - (indent if j == 0 and r.kind in ("level", "missing")
                                                                      else 0.0), pt)
                        for j, (c, w) in enumerate(zip(r.cells, widths))))
    return TableLayout(widths, natural, header, rows, pt, padding + SLACK, padding_v)


def blocks(table) -> list[list[int]]:
    """Row indices grouped by variable: a heading (or data / summary row) with the level and missing rows under it."""
    out: list[list[int]] = []
    for i, row in enumerate(table.rows):
        if row.kind in ("level", "missing") and out:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def split_rows(table, lay: TableLayout, height_in: float) -> list[list[int]]:
    """Row indices per page so that header + rows fit ``height_in``; a variable's rows stay on one page (a block
    taller than a page is split, its heading kept with the first level)."""
    room = height_in - lay.header_height
    pages: list[list[int]] = [[]]
    used = 0.0
    for block in blocks(table):
        h = sum(lay.row_height(lay.row_lines[i]) for i in block)
        if pages[-1] and used + h > room:
            pages.append([])
            used = 0.0
        if h <= room:
            pages[-1].extend(block)
            used += h
            continue
        for i in block:                                  # a block taller than a page
            rh = lay.row_height(lay.row_lines[i])
            if pages[-1] and used + rh > room:
                carry = [pages[-1].pop()] if table.rows[pages[-1][-1]].kind == "heading" else []
                pages.append(carry)
                used = sum(lay.row_height(lay.row_lines[k]) for k in carry)
            pages[-1].append(i)
            used += rh
    return [p for p in pages if p] or [[]]


def page_height(lay: TableLayout, rows: list[int]) -> float:
    return lay.header_height + sum(lay.row_height(lay.row_lines[i]) for i in rows)


def paginate(table, lay: TableLayout, room: float, foot: float, per_slide: int = 1) -> list[list[int]]:
    """Row pages of about equal height: the fewest pages of at most ``room`` inches each, such that the pages of
    the last slide (``per_slide`` pages side by side) leave ``foot`` inches for the footnotes under them."""
    if not table.rows:
        return [[]]
    n_pages = len(split_rows(table, lay, room))
    while True:
        for k in range(10, 21):                        # the most even split first
            pages = split_rows(table, lay, room * k / 20)
            if len(pages) > n_pages:
                continue
            first_of_last = ((len(pages) - 1) // per_slide) * per_slide
            if all(page_height(lay, p) + foot <= room for p in pages[first_of_last:]):
                return pages
        n_pages += 1
        if n_pages > len(table.rows) + 1:              # footnotes taller than a slide: they get a slide of their own
            return split_rows(table, lay, room) + [[]]

"""Manuscript tables (.docx, python-docx): Tables 1-5 in the cohort paper's layout -- baseline characteristics,
tumour response, univariable and multivariable Cox regression per endpoint, adverse events -- each with its
footnotes (tests, CI methods, abbreviations), a statistical-methods paragraph naming each method with its R
equivalent, the survival results as a sentence, and supplementary tables (KM estimates of the view, survival
outcomes, the meta-analysis when the view has one). Word tables with journal rules (no vertical lines), header
rows repeated across pages; a table too wide for a portrait page gets a landscape page.
"""
from __future__ import annotations

import io
import math

from docx import Document
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from components.format import NOT_REACHED, format_ci, format_number, format_percent
from reports import app_version
from reports.layout import layout_table
from reports.tables import (abbreviations, followup_text, km_estimates_table, meta_pooled_table,
                            methods_paragraphs, survival_summary_table, table_items, view_title)

FONT = "Arial"
TEXT_PT = 10
TABLE_PT = 9
NOTE_PT = 8
MARGIN_CM = 2.0
A4 = (21.0, 29.7)
WARN = RGBColor(0xB0, 0x00, 0x20)
ALIGN = {"left": WD_ALIGN_PARAGRAPH.LEFT, "center": WD_ALIGN_PARAGRAPH.CENTER, "right": WD_ALIGN_PARAGRAPH.RIGHT}


#: the elements that follow the borders in a tblPr / tcPr (WordprocessingML's sequence; Word rejects a file whose
#: properties are out of order)
_AFTER_BORDERS = {
    "w:tblBorders": ("w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption", "w:tblDescription"),
    "w:tcBorders": ("w:shd", "w:noWrap", "w:tcMar", "w:textDirection", "w:tcFitText", "w:vAlign", "w:hideMark"),
}


def _border(parent, tag: str, sides: dict[str, float]) -> None:
    """Borders (``sides``: side -> width in points, 0 = none) on a tblPr / tcPr element, in schema order."""
    box = parent.find(qn(tag))
    if box is None:
        box = OxmlElement(tag)
        later = [child for child in parent if child.tag in {qn(t) for t in _AFTER_BORDERS[tag]}]
        if later:
            later[0].addprevious(box)
        else:
            parent.append(box)
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):     # the sides' own order
        if side not in sides:
            continue
        width = sides[side]
        el = box.find(qn(f"w:{side}"))
        if el is None:
            el = OxmlElement(f"w:{side}")
            box.append(el)
        if width:
            el.set(qn("w:val"), "single")
            el.set(qn("w:sz"), str(int(width * 8)))
            el.set(qn("w:color"), "222222")
        else:
            el.set(qn("w:val"), "nil")
        el.set(qn("w:space"), "0")


def _run(paragraph, text: str, pt: float, bold=False, italic=False, superscript=False, color=None):
    run = paragraph.add_run(text)
    run.font.name = FONT
    run.font.size = Pt(pt)
    run.font.bold = bold
    run.font.italic = italic
    run.font.superscript = superscript
    if color is not None:
        run.font.color.rgb = color
    return run


def _cell(cell, text: str, *, bold=False, italic=False, align="left", mark="", flag="", indent=False,
          keep=False):
    paragraph = cell.paragraphs[0]
    paragraph.alignment = ALIGN[align]
    fmt = paragraph.paragraph_format
    fmt.space_before = fmt.space_after = Pt(1)
    fmt.keep_with_next = keep                        # a variable's heading row stays with its first level
    if indent:
        fmt.left_indent = Pt(10)
    mark_rpr = OxmlElement("w:rPr")                  # the paragraph mark at table size: an empty cell's line is
    size = OxmlElement("w:sz")                       # as high as a filled one
    size.set(qn("w:val"), str(int(TABLE_PT * 2)))
    mark_rpr.append(size)
    paragraph._p.get_or_add_pPr().append(mark_rpr)
    for k, line in enumerate(str(text).split("\n")):
        if k:
            _run(paragraph, "", TABLE_PT, bold=bold).add_break()
        if line:
            _run(paragraph, line, TABLE_PT, bold=bold, italic=italic)
    for sup in (mark, flag):
        if sup:
            _run(paragraph, sup, TABLE_PT, bold=bold, superscript=True)


def _repeat_header(row) -> None:
    trPr = row._tr.get_or_add_trPr()
    el = OxmlElement("w:tblHeader")
    el.set(qn("w:val"), "true")
    trPr.append(el)


def add_table(doc, table, width_in: float) -> None:
    """A ClinicalTable as a Word table: spanning header row, column header, rows by kind (variable headings bold,
    levels indented, missing italic), superscript test letters and flags; top and bottom rules and a rule under
    the header (booktabs)."""
    lay = layout_table(table, TABLE_PT, width_in, padding=0.12)
    align = table.align or (["left"] + ["center"] * (len(table.columns) - 1))
    n_head = 2 if table.spanners else 1
    t = doc.add_table(rows=n_head + len(table.rows), cols=len(table.columns))
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    t.autofit = False
    tblPr = t._tbl.tblPr
    _border(tblPr, "w:tblBorders", {"top": 1.5, "bottom": 1.5, "left": 0, "right": 0, "insideH": 0,
                                    "insideV": 0})
    widths = [Cm(w * 2.54) for w in lay.widths]
    for j, w in enumerate(widths):
        t.columns[j].width = w
    rows = list(t.rows)
    grid = [row.cells for row in rows]               # python-docx's cell lookup is slow: once per row
    for cells in grid:
        for cell, w in zip(cells, widths):
            cell.width = w
    r = 0
    if table.spanners:
        j = 0
        for label, span in table.spanners:
            cell = grid[0][j]
            if span > 1:
                cell = cell.merge(grid[0][j + span - 1])
            _cell(cell, label, bold=True, align="center")
            if label:
                _border(cell._tc.get_or_add_tcPr(), "w:tcBorders", {"bottom": 0.75})
            j += span
        _repeat_header(rows[0])
        r = 1
    for j, col in enumerate(table.columns):
        cell = grid[r][j]
        _cell(cell, str(col), bold=True, align=align[j])
        _border(cell._tc.get_or_add_tcPr(), "w:tcBorders", {"bottom": 1.0})
    _repeat_header(rows[r])
    for i, row in enumerate(table.rows):
        cells = grid[n_head + i]
        for j, c in enumerate(row.cells):
            _cell(cells[j], c.text, bold=(j == 0 and row.kind in ("heading", "summary")),
                  italic=row.kind == "missing", align=align[j], mark=c.mark, flag=c.flag_export,
                  indent=j == 0 and row.kind in ("level", "missing"), keep=row.kind == "heading")


def _notes(doc, notes: list[str]) -> None:
    for note in notes:
        p = doc.add_paragraph()
        p.paragraph_format.space_after = Pt(1)
        _run(p, note, NOTE_PT)


def _caption(doc, number: str, title: str) -> None:
    p = doc.add_paragraph()
    p.paragraph_format.space_before = Pt(12)
    p.paragraph_format.keep_with_next = True
    _run(p, f"{number}  ", TEXT_PT, bold=True)
    _run(p, title, TEXT_PT)


def _orientation(doc, landscape: bool) -> float:
    """Start a new section in the orientation if it changes; returns the text width (inches)."""
    section = doc.sections[-1]
    is_landscape = section.orientation == WD_ORIENT.LANDSCAPE
    if landscape != is_landscape:
        section = doc.add_section(WD_SECTION.NEW_PAGE)
        section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
        short, long_ = Cm(A4[0]), Cm(A4[1])
        section.page_width, section.page_height = (long_, short) if landscape else (short, long_)
        for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
            setattr(section, side, Cm(MARGIN_CM))
    return (section.page_width - section.left_margin - section.right_margin) / 914400


def _table_block(doc, number: str, title: str, table) -> None:
    """Caption, table and notes; a wide table gets a landscape page, and a short table after one stays there
    (rather than a portrait page of its own)."""
    portrait = (Cm(A4[0]) - 2 * Cm(MARGIN_CM)) / 914400
    landscape = (Cm(A4[1]) - 2 * Cm(MARGIN_CM)) / 914400
    narrow = sum(layout_table(table, TABLE_PT, portrait, padding=0.12).row_lines)
    wide = sum(layout_table(table, TABLE_PT, landscape, padding=0.12).row_lines)
    needs_landscape = narrow > 1.2 * wide
    in_landscape = doc.sections[-1].orientation == WD_ORIENT.LANDSCAPE
    width = _orientation(doc, needs_landscape or (in_landscape and len(table.rows) <= 20))
    _caption(doc, number, title)
    add_table(doc, table, width)
    notes = list(table.footnotes)
    abbr = abbreviations(table)
    if abbr:
        notes.append(abbr)
    _notes(doc, notes)


def results_sentences(results) -> list[str]:
    """The survival results as the paper writes them: follow-up, events, medians with CIs, landmark rates."""
    out = []
    for ep in results.endpoints:
        g = ep.overall.groups[0]
        label = ep.endpoint.label
        text = f"{label}: {ep.events} events in {ep.n} patients; {followup_text(ep.followup)}. "
        if math.isfinite(g.median):
            text += (f"The median {label.lower()} was {format_number(g.median, 1)} months "
                     f"(95% CI {format_ci(g.median_lo, g.median_hi, 1, limit_missing=NOT_REACHED)})")
        else:
            text += f"The median {label.lower()} was not reached"
        rates = []
        for t in ep.landmarks:
            a = g.km.at_time(t)
            if a is not None and a["estimable"] and a["surv"] is not None and math.isfinite(a["surv"]):
                rates.append((t, a["surv"]))
        if rates:
            text += (f"; the estimated rates at {', '.join(f'{t:g}' for t, _ in rates[:-1])}"
                     f"{' and ' if len(rates) > 1 else ''}{rates[-1][0]:g} months were "
                     f"{', '.join(format_percent(v) for _, v in rates[:-1])}{' and ' if len(rates) > 1 else ''}"
                     f"{format_percent(rates[-1][1])}")
        out.append(text + ".")
    return out


def build_manuscript(results) -> bytes:
    """The .docx bytes of the manuscript tables of ``results`` (:func:`reports.results.compute`)."""
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(A4[0]), Cm(A4[1])
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(MARGIN_CM))
    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(TEXT_PT)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)

    spec = results.spec
    heading = doc.add_heading(spec.title or f"Manuscript tables: {results.name}", level=1)
    for run in heading.runs:
        run.font.name = FONT
    p = doc.add_paragraph()
    _run(p, f"Dataset {results.name}, {results.n} patients. Generated {results.generated.isoformat()} with HAIC "
            f"Cohort Analytics {app_version()}; every number is reproduced by the accompanying R script.", TEXT_PT)
    if results.synthetic:
        p = doc.add_paragraph()
        _run(p, "SYNTHETIC DATA — made-up patients, not real people; not for clinical decisions or publication.",
             TEXT_PT, bold=True, color=WARN)

    doc.add_heading("Statistical analysis", level=2)
    for text in methods_paragraphs(results, app_version()):
        doc.add_paragraph(text)
    doc.add_heading("Survival", level=2)
    for text in results_sentences(results):
        doc.add_paragraph(text)

    for k, item in enumerate(table_items(results), start=1):
        _table_block(doc, f"Table {k}", item.title, item.table)
    supplementary = [("Kaplan–Meier estimates: " + view_title(results),
                      km_estimates_table(results.view, results.view_endpoint.landmarks)),
                     ("Survival outcomes and follow-up", survival_summary_table(results))]
    if results.meta is not None:
        supplementary.append(("Meta-analysis of the published studies: pooled results", meta_pooled_table(results)))
    for k, (title, table) in enumerate(supplementary, start=1):
        _table_block(doc, f"Table S{k}", title, table)
    if results.notes:
        doc.add_heading("Notes", level=2)
        for note in results.notes:
            doc.add_paragraph(note[:1].upper() + note[1:] + ".")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()

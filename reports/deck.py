"""The tumour-board deck (.pptx, python-pptx): 16:9 slides of one view of a cohort.

Slides: title (dataset, patients, events, median follow-up, the SYNTHETIC flag, date, app version); the KM figure
of the view with its number-at-risk table, HR and log-rank p; its KM estimates; survival outcomes of every
endpoint; the paper's Figure 3/4 grid per endpoint (lettered panels of equal size); univariable and multivariable
Cox as a native table and the forest plot; response, adverse-event and baseline tables; the meta-analysis forest
plot and pooled results (when the view has them); methods. Tables are native PowerPoint tables with text of at
least :data:`TABLE_PT` points, split over slides when long; figures come from the pages' builders
(:mod:`reports.figures`). Every slide carries a footer with the dataset, and SYNTHETIC when it is.
"""
from __future__ import annotations

import io
import math

from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.text import MSO_ANCHOR, PP_ALIGN
from pptx.oxml.ns import qn
from pptx.util import Emu, Inches, Pt

from components.format import format_number
from reports import app_version
from reports import figures as F
from reports.layout import layout_table, paginate
from reports.tables import (abbreviations, followup_text, km_estimates_table, meta_pooled_table,
                            survival_summary_table, table_items, view_title)

SLIDE_W, SLIDE_H = 13.333, 7.5
MARGIN = 0.45
TITLE_TOP, TITLE_H = 0.25, 0.75
BODY_TOP = 1.1
FOOTER_H = 0.35
BODY_H = SLIDE_H - BODY_TOP - FOOTER_H - 0.1
BODY_W = SLIDE_W - 2 * MARGIN
TABLE_PT = 14
NOTE_PT = 12
TITLE_PT = 28
FONT = "Arial"
INK = RGBColor(0x22, 0x22, 0x22)
MUTED = RGBColor(0x55, 0x55, 0x55)
ACCENT = RGBColor(0x00, 0x72, 0xB2)
WARN = RGBColor(0xB0, 0x00, 0x20)
BAND = RGBColor(0xF2, 0xF5, 0xF9)
#: "No Style, No Grid": rules and shading are set cell by cell
PLAIN_TABLE_STYLE = "{2D5ABB26-0587-4C30-8999-92F81FD0307C}"
#: adverse-event terms on the slide (the manuscript has them all)
AE_TERMS_ON_SLIDE = 10


class Deck:
    """A presentation being built: 16:9, blank-layout slides with our own title, body and footer."""

    def __init__(self, footer: str):
        self.prs = Presentation()
        self.prs.slide_width, self.prs.slide_height = Inches(SLIDE_W), Inches(SLIDE_H)
        self.footer = footer

    def slide(self, title: str, notes: str | None = None):
        slide = self.prs.slides.add_slide(self.prs.slide_layouts[5])        # "Title Only"
        shape = slide.shapes.title
        shape.left, shape.top, shape.width, shape.height = (Inches(MARGIN), Inches(TITLE_TOP), Inches(BODY_W),
                                                            Inches(TITLE_H))
        shape.text_frame.word_wrap = True
        shape.text_frame.vertical_anchor = MSO_ANCHOR.MIDDLE
        _set_text(shape.text_frame, title, TITLE_PT, bold=True, color=INK, align=PP_ALIGN.LEFT)
        n = len(self.prs.slides)
        self.text(f"{self.footer}   ·   {n}", MARGIN, SLIDE_H - FOOTER_H, BODY_W, FOOTER_H - 0.05, 11,
                  color=MUTED, slide=slide, align=PP_ALIGN.RIGHT)
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
        return slide

    def text(self, text: str | list[str], left, top, width, height, pt, *, slide, bold=False, color=INK,
             align=PP_ALIGN.LEFT, bullets: bool = False):
        box = slide.shapes.add_textbox(Inches(left), Inches(top), Inches(width), Inches(height))
        tf = box.text_frame
        tf.word_wrap = True
        paragraphs = text if isinstance(text, list) else [text]
        for i, para in enumerate(paragraphs):
            p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
            run = p.add_run()
            run.text = ("• " if bullets else "") + para
            _font(run.font, pt, bold=bold, color=color)
            p.alignment = align
            if bullets:
                p.space_after = Pt(6)
        return box

    def picture(self, slide, png: bytes, left, top, width, height):
        """The image fitted into the box (aspect kept), centred horizontally, top-aligned."""
        from PIL import Image

        with Image.open(io.BytesIO(png)) as im:
            w_px, h_px = im.size
        scale = min(width / w_px, height / h_px)
        w, h = w_px * scale, h_px * scale
        return slide.shapes.add_picture(io.BytesIO(png), Inches(left + (width - w) / 2), Inches(top), Inches(w),
                                        Inches(h))

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        self.prs.save(out)
        return out.getvalue()


# ---------------------------------------------------------------------------------------------------------
# text and tables
# ---------------------------------------------------------------------------------------------------------
def _font(font, pt, bold=False, color=INK, italic=False):
    font.name = FONT
    font.size = Pt(pt)
    font.bold = bold
    font.italic = italic
    font.color.rgb = color


def _set_text(tf, text: str, pt, bold=False, color=INK, align=PP_ALIGN.LEFT):
    tf.clear()
    for i, line in enumerate(str(text).split("\n")):
        p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
        run = p.add_run()
        run.text = line
        _font(run.font, pt, bold=bold, color=color)
        p.alignment = align


def _cell(cell, text: str, pt: float, *, bold=False, italic=False, color=INK, align="left", mark="", flag=""):
    tf = cell.text_frame
    tf.word_wrap = True
    tf.clear()
    for i, line in enumerate(str(text).split("\n")):
        p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
        p.alignment = {"left": PP_ALIGN.LEFT, "center": PP_ALIGN.CENTER, "right": PP_ALIGN.RIGHT}[align]
        if line:
            run = p.add_run()
            run.text = line
            _font(run.font, pt, bold=bold, italic=italic, color=color)
        _font(p.font, pt, bold=bold, italic=italic, color=color)
        p._p.get_or_add_endParaRPr().set("sz", str(int(pt * 100)))   # an empty cell's line is this high too
    for sup in (mark, flag):
        if sup:
            run = tf.paragraphs[-1].add_run()
            run.text = sup
            _font(run.font, pt, bold=bold, color=color)
            run.font._rPr.set("baseline", "30000")            # superscript
    cell.vertical_anchor = MSO_ANCHOR.MIDDLE
    cell.margin_left = cell.margin_right = Inches(0.08)
    cell.margin_top = cell.margin_bottom = Inches(0.04)


def _rule(cell, side: str, width_pt: float):
    """A horizontal rule on a cell's top or bottom edge (booktabs style), before any fill in tcPr."""
    tcPr = cell._tc.get_or_add_tcPr()
    tag = {"top": "a:lnT", "bottom": "a:lnB"}[side]
    for old in tcPr.findall(qn(tag)):
        tcPr.remove(old)
    ln = tcPr.makeelement(qn(tag), {"w": str(int(width_pt * 12700)), "cap": "flat", "cmpd": "sng"})
    fill = ln.makeelement(qn("a:solidFill"), {})
    clr = fill.makeelement(qn("a:srgbClr"), {"val": "222222"})
    fill.append(clr)
    ln.append(fill)
    order = ["a:lnL", "a:lnR", "a:lnT", "a:lnB"]
    index = 0
    for i, child in enumerate(tcPr):
        if child.tag in [qn(t) for t in order[: order.index(tag)]]:
            index = i + 1
    tcPr.insert(index, ln)


def add_table(slide, table, rows: list[int], left: float, top: float, width: float, lay):
    """``table``'s header and the body ``rows`` as a native table (text >= TABLE_PT pt), booktabs rules, light
    banding by variable block; returns the table's height (inches, as laid out)."""
    align = table.align or (["left"] + ["center"] * (len(table.columns) - 1))
    n_head = 2 if table.spanners else 1
    n_rows = n_head + len(rows)
    height = lay.header_height + sum(lay.row_height(lay.row_lines[i]) for i in rows)
    frame = slide.shapes.add_table(n_rows, len(table.columns), Inches(left), Inches(top), Inches(width),
                                   Inches(height))
    tbl = frame.table
    tbl.first_row, tbl.horz_banding = False, False
    frame._element.graphic.graphicData.tbl.tblPr.find(qn("a:tableStyleId")).text = PLAIN_TABLE_STYLE
    for j, w in enumerate(lay.widths):
        tbl.columns[j].width = Emu(int(Inches(w)))
    pt = lay.pt
    r = 0
    if table.spanners:
        j = 0
        for label, span in table.spanners:
            _cell(tbl.cell(0, j), label, pt, bold=True, align="center")
            if span > 1:
                tbl.cell(0, j).merge(tbl.cell(0, j + span - 1))
            if label:
                for k in range(j, j + span):
                    _rule(tbl.cell(0, k), "bottom", 0.75)
            j += span
        for k in range(j, len(table.columns)):
            _cell(tbl.cell(0, k), "", pt)
        tbl.rows[0].height = Emu(int(Inches(lay.row_height(lay.header_lines[0]))))
        r = 1
    for j, col in enumerate(table.columns):
        _cell(tbl.cell(r, j), str(col), pt, bold=True, align=align[j])
        _rule(tbl.cell(r, j), "bottom", 1.0)
    tbl.rows[r].height = Emu(int(Inches(lay.row_height(lay.header_lines[-1]))))
    for j in range(len(table.columns)):
        _rule(tbl.cell(0, j), "top", 1.5)
    shade, block = False, -1
    for k, i in enumerate(rows):
        row = table.rows[i]
        if row.kind in ("heading", "data", "summary"):
            block += 1
            shade = block % 2 == 1
        rr = n_head + k
        tbl.rows[rr].height = Emu(int(Inches(lay.row_height(lay.row_lines[i]))))
        for j, c in enumerate(row.cells):
            cell = tbl.cell(rr, j)
            _cell(cell, c.text, pt, bold=(j == 0 and row.kind in ("heading", "summary")),
                  italic=row.kind == "missing", color=MUTED if row.kind == "missing" else INK, align=align[j],
                  mark=c.mark, flag=c.flag_export)
            if j == 0 and row.kind in ("level", "missing"):
                cell.margin_left = Inches(0.33)
            if shade:
                cell.fill.solid()
                cell.fill.fore_color.rgb = BAND
            else:
                cell.fill.background()
            if k == len(rows) - 1:
                _rule(cell, "bottom", 1.5)
    return height


def table_slides(deck: Deck, title: str, table, *, notes: list[str] | None = None):
    """One or more slides for a table: split into pages of about equal height (a variable's heading kept with its
    first level); a narrow table (Table 1 overall) two pages side by side; the footnotes and abbreviations under
    the last slide's table, and all of them in every part's speaker notes."""
    foot = list(table.footnotes) + list(notes or [])
    abbr = abbreviations(table)
    if abbr:
        foot.append(abbr)
    foot_h = _notes_height(foot, BODY_W)
    gap = 0.3
    wide = layout_table(table, TABLE_PT, BODY_W)
    half = layout_table(table, TABLE_PT, (BODY_W - gap) / 2)
    # a long, narrow table (Table 1 overall) goes two pages side by side when that wraps few of its lines
    two_up = len(table.rows) > 14 and sum(half.row_lines) <= 1.1 * sum(wide.row_lines) and \
        sum(half.header_lines) <= sum(wide.header_lines) + 1
    width = (BODY_W - gap) / 2 if two_up else BODY_W
    lay = half if two_up else wide
    per_slide = 2 if two_up else 1
    pages = paginate(table, lay, BODY_H - 0.1, foot_h + 0.15, per_slide)
    slides = [pages[i:i + per_slide] for i in range(0, len(pages), per_slide)]
    for s_no, group in enumerate(slides):
        more = f" ({s_no + 1}/{len(slides)})" if len(slides) > 1 else ""
        slide = deck.slide(title + more, notes="\n".join(foot))
        h = 0.0
        for k, rows in enumerate(group):
            if rows:
                h = max(h, add_table(slide, table, rows, MARGIN + k * (width + gap), BODY_TOP, width, lay))
        if s_no == len(slides) - 1 and foot:
            top = BODY_TOP + h + 0.12
            deck.text(foot, MARGIN, top, BODY_W, max(0.4, SLIDE_H - FOOTER_H - top - 0.05), NOTE_PT, slide=slide,
                      color=MUTED)


def _notes_height(notes: list[str], width: float) -> float:
    """Estimated height (inches) of footnote paragraphs at NOTE_PT (running text: ~0.47 em per character)."""
    chars_per_line = (width - 0.2) / (0.47 * NOTE_PT / 72.0)
    lines = sum(max(1, math.ceil(len(n) / chars_per_line)) for n in notes)
    return lines * 1.2 * NOTE_PT / 72.0 + 0.03 * len(notes) + 0.1


# ---------------------------------------------------------------------------------------------------------
# the deck
# ---------------------------------------------------------------------------------------------------------
def footer_text(results) -> str:
    if not results.has_cohort:
        return (f"{results.name} ({results.n} studies)   ·   published study-level results, not patients   ·   "
                f"{results.generated.isoformat()}")
    tag = "SYNTHETIC DATA — not real patients" if results.synthetic else "Confidential: patient data"
    return f"{results.name} (n = {results.n})   ·   {tag}   ·   {results.generated.isoformat()}"


def _grid_shape(n: int) -> tuple[int, int]:
    """(columns, rows) of a grid of ``n`` panels on a 16:9 slide."""
    if n <= 1:
        return 1, 1
    if n == 2:
        return 2, 1
    if n <= 4:
        return 2, 2
    if n <= 6:
        return 3, 2
    if n <= 8:
        return 4, 2
    return 3, 3


def _pictures(results) -> tuple[list, list]:
    """The deck's figures in slide order, with what each one is for."""
    pics, keys = [], []
    if results.has_cohort:
        pics.append(F.km_view_picture(results, BODY_W, BODY_H))
        keys.append(("km", None))
    for ep in results.endpoints:
        for start in range(0, len(ep.panels), 9):
            chunk = ep.panels[start:start + 9]
            cols, rows = _grid_shape(len(chunk))
            w, h = BODY_W / cols - 0.1, BODY_H / rows - 0.1
            for panel in chunk:
                pics.append(F.panel_picture(panel, ep, w, h))
                keys.append(("panel", (ep.endpoint.key, panel.letter)))
        if ep.cox is not None and ep.cox.multivariable is not None:
            pics.append(F.cox_forest_picture(ep.cox, BODY_W, BODY_H))
            keys.append(("forest", ep.endpoint.key))
    if results.meta is not None and results.meta.report is not None:
        pics.append(F.meta_forest_picture(results.meta, BODY_W, BODY_H))
        keys.append(("meta", None))
    return pics, keys


def build_deck(results, progress=None) -> bytes:
    """The .pptx bytes of the deck of ``results`` (:func:`reports.results.compute`); ``progress(done, total)``
    while the figures render (the slow part)."""
    pics, keys = _pictures(results)
    pngs = dict(zip(keys, F.render(pics, progress=progress)))
    deck = Deck(footer_text(results))
    _title_slide(deck, results)
    if results.has_cohort:
        _cohort_slides(deck, results, pngs)
    if results.meta is not None:
        _meta_slides(deck, results, pngs)
    _methods_slide(deck, results)
    return deck.to_bytes()


def _cohort_slides(deck: Deck, results, pngs: dict) -> None:
    """The KM view, its estimates, survival outcomes, the Figure 3/4 grids, Cox, response, AE and baseline."""
    ep0 = results.view_endpoint
    caption = "; ".join(x for x in (_km_caption_line(results), followup_text(results.view.followup)) if x)
    slide = deck.slide(view_title(results), notes=caption)
    deck.picture(slide, pngs[("km", None)], MARGIN, BODY_TOP, BODY_W, BODY_H)
    table_slides(deck, f"Kaplan–Meier estimates: {view_title(results)}",
                 km_estimates_table(results.view, ep0.landmarks))
    table_slides(deck, "Survival outcomes and follow-up", survival_summary_table(results))

    for i, ep in enumerate(results.endpoints):
        panels = ep.panels
        for start in range(0, len(panels), 9):
            chunk = panels[start:start + 9]
            cols, rows = _grid_shape(len(chunk))
            which = "the multivariable model's factors" if results.spec.grid is None else "the chosen factors"
            more = f" ({start // 9 + 1}/{math.ceil(len(panels) / 9)})" if len(panels) > 9 else ""
            slide = deck.slide(f"{ep.endpoint.label} by {which}{more}",
                               notes="\n".join(f"{p.letter}: {p.title}; " + (_km_caption_line_of(p.km) or "")
                                               for p in chunk))
            w, h = BODY_W / cols, BODY_H / rows
            for k, panel in enumerate(chunk):
                c, r = k % cols, k // cols
                deck.picture(slide, pngs[("panel", (ep.endpoint.key, panel.letter))], MARGIN + c * w + 0.05,
                             BODY_TOP + r * h + 0.05, w - 0.1, h - 0.1)
        if ep.cox is None:
            continue
        table = [t for t in table_items(results, slide=True) if t.key == f"cox:{ep.endpoint.key}"][0]
        table_slides(deck, f"Cox regression: {ep.endpoint.label}", table.table)
        if ("forest", ep.endpoint.key) in pngs:
            m = ep.cox.multivariable
            slide = deck.slide(f"Multivariable model: {ep.endpoint.label}",
                               notes=f"{m.n} patients, {m.events} events; "
                                     f"Harrell's C {format_number(m.concordance, 3)}")
            deck.picture(slide, pngs[("forest", ep.endpoint.key)], MARGIN, BODY_TOP, BODY_W, BODY_H)

    for item in table_items(results, slide=True):
        if item.key.startswith("cox:"):
            continue
        table = item.table
        title = item.title
        if item.key == "ae":
            table, title = _ae_for_slide(results, table, title)
        table_slides(deck, title, table)


def _meta_slides(deck: Deck, results, pngs: dict) -> None:
    """The meta page's forest plot (its outcome, model, studies left out) and the pooled results of every outcome."""
    view = results.meta
    if ("meta", None) in pngs:
        slide = deck.slide(f"Meta-analysis: {view.spec.outcome} ({view.spec.comparison})")
        deck.picture(slide, pngs[("meta", None)], MARGIN, BODY_TOP, BODY_W, BODY_H - 0.45)
        others = view.not_pooled
        if others:
            deck.text(f"Not in the pool: {len(others)} of {len(view.rows)} studies ("
                      + "; ".join(f"{r.study}: {r.reason}" for r in others[:4])
                      + ("; …" if len(others) > 4 else "") + ").",
                      MARGIN, BODY_TOP + BODY_H - 0.4, BODY_W, 0.4, NOTE_PT, slide=slide, color=MUTED)
    table_slides(deck, "Meta-analysis: pooled results", meta_pooled_table(results))


def _ae_for_slide(results, table, title):
    """The AE table with its summary rows and the most frequent terms (all terms are in the manuscript)."""
    n_summary = len(results.ae.summary)
    n_terms = len(results.ae.events)
    if n_terms <= AE_TERMS_ON_SLIDE:
        return table, title
    from dataclasses import replace

    short = replace(table, rows=table.rows[: n_summary + AE_TERMS_ON_SLIDE],
                    footnotes=list(table.footnotes) + [f"The {AE_TERMS_ON_SLIDE} most frequent of {n_terms} terms "
                                                       f"(any grade); every term is in the manuscript tables."])
    return short, f"Adverse events (CTCAE 5.0): the {AE_TERMS_ON_SLIDE} most frequent of {n_terms}"


def _km_caption_line_of(km) -> str:
    from reports.tables import km_caption

    return km_caption(km)


def _km_caption_line(results) -> str:
    return _km_caption_line_of(results.view)


def _title_slide(deck: Deck, results) -> None:
    spec = results.spec
    if not results.has_cohort:
        _meta_title_slide(deck, results)
        return
    slide = deck.slide(spec.title or f"Tumour board: {results.name}")
    lines = [f"{results.n} patients"]
    for ep in results.endpoints:
        lines.append(f"{ep.endpoint.label}: {ep.events} events in {ep.n} patients; {followup_text(ep.followup)}")
    lines.append(f"Generated {results.generated.isoformat()} with HAIC Cohort Analytics {app_version()}")
    top = BODY_TOP + 0.4
    if results.synthetic:
        box = deck.text("SYNTHETIC DATA — made-up patients, not for clinical decisions", MARGIN, top, BODY_W, 0.7,
                        24, slide=slide, bold=True, color=WARN, align=PP_ALIGN.CENTER)
        box.line.color.rgb = WARN
        box.line.width = Pt(2.5)
        box.text_frame.vertical_anchor = MSO_ANCHOR.MIDDLE
        top += 1.1
    deck.text(f"Dataset: {results.name}", MARGIN, top, BODY_W, 0.6, 24, slide=slide, bold=True, color=ACCENT)
    deck.text(lines, MARGIN, top + 0.8, BODY_W, BODY_H - (top - BODY_TOP) - 0.8, 20, slide=slide, bullets=True)


def _meta_title_slide(deck: Deck, results) -> None:
    """The title of a deck of the meta-analysis alone (the meta page's): the study table and the model."""
    view, m = results.meta, results.spec.meta
    slide = deck.slide(results.spec.title or f"Meta-analysis: {view.spec.comparison}")
    left_out = len(m.exclude)
    lines = [f"{results.n} studies in the study table"
             + (f"; {left_out} left out by the user" if left_out else ""),
             f"Forest plot: {view.spec.outcome.lower()}, {view.k} studies pooled",
             f"Model: {_meta_model(m)}",
             f"Generated {results.generated.isoformat()} with HAIC Cohort Analytics {app_version()}"]
    top = BODY_TOP + 0.4
    deck.text(f"Study table: {results.name}", MARGIN, top, BODY_W, 0.6, 24, slide=slide, bold=True, color=ACCENT)
    deck.text("Published study-level results, not patients", MARGIN, top + 0.6, BODY_W, 0.5, 18, slide=slide,
              color=MUTED)
    deck.text(lines, MARGIN, top + 1.3, BODY_W, BODY_H - 1.7, 20, slide=slide, bullets=True)


def _meta_model(m) -> str:
    if m.method == "FE":
        return "fixed effect (" + ("Mantel–Haenszel" if m.mh else "inverse variance") + ")"
    return f"random effects ({m.method}{', Hartung–Knapp' if m.hk else ''})"


def _methods_slide(deck: Deck, results) -> None:
    spec = results.spec
    bullets = []
    if results.has_cohort:
        bullets += [f"Kaplan–Meier with Greenwood variance, {spec.ci} 95% CIs — R survival::survfit(conf.type = "
                    f"\"{spec.ci}\"); log-rank test — survdiff",
                    "Median follow-up by reverse Kaplan–Meier — quantile(survfit(Surv(time, 1 − event) ~ 1))"]
    coxes = [e.cox for e in results.endpoints if e.cox is not None]
    if coxes:
        rule = ("chosen by hand" if coxes[0].rule == "manual" else f"univariable p < {coxes[0].alpha:g} entered")
        bullets.append(f"Cox regression, Efron ties, Wald CIs — coxph(ties = \"efron\"); multivariable model: {rule}; "
                       f"PH test — cox.zph")
    if results.response is not None:
        bullets.append("ORR / DCR with exact Clopper–Pearson 95% CIs — binom.test")
    if results.meta is not None:
        bullets.append(f"Meta-analysis: inverse-variance pooling of log ratios, {_meta_model(spec.meta)} — "
                       f"metafor::rma" + ("" if spec.meta.method == "FE" or not spec.meta.hk else "(test = \"knha\")"))
    bullets.append("The R bundle (reproduce.R + the analysed data) reproduces every number of these slides"
                   if results.has_cohort else
                   "The R bundle (reproduce.R + the pooled studies' effects) reproduces the pooled results")
    slide = deck.slide("Methods and reproducibility")
    deck.text(bullets, MARGIN, BODY_TOP + 0.1, BODY_W, BODY_H - 0.2, 18, slide=slide, bullets=True)

/* Static HTML made on the server (components/static_html.py): an element whose data-html attribute holds a
 * table gets it as its content, as soon as the element appears or the attribute changes. The HTML was escaped
 * on the server; it is never built from anything else. */
(function () {
  const HTML_NS = "http://www.w3.org/1999/xhtml";

  function put(el) {
    const text = el.getAttribute("data-html");
    if (text !== null && el.__staticHtml !== text) {
      el.innerHTML = text;
      el.__staticHtml = text;
    }
  }

  function scan(node) {
    if (node.nodeType !== 1 || node.namespaceURI !== HTML_NS) {
      return;                                      // text, and plotly's SVG, hold no static HTML
    }
    if (node.hasAttribute("data-html")) {
      put(node);
    } else if (node.firstElementChild) {
      node.querySelectorAll("[data-html]").forEach(put);
    }
  }

  new MutationObserver(function (records) {
    records.forEach(function (r) {
      if (r.type === "attributes") {
        put(r.target);
      } else {
        r.addedNodes.forEach(scan);
      }
    });
  }).observe(document.documentElement, {subtree: true, childList: true, attributes: true,
                                        attributeFilter: ["data-html"]});
  document.querySelectorAll("[data-html]").forEach(put);

  // A static table in an element of class "sortable-table": a click on a column's header (the last header row)
  // sorts the rows by that column -- numbers by their leading number ("12 (4.0)" by 12, "<0.001" as 0.001),
  // largest first; text alphabetically -- a second click reverses, a third restores the table's own order.
  // Summary rows (tr.row-summary) stay on top, in their order. New data from the server come unsorted.
  function leading(text) {
    const m = text.trim().replace("\u2212", "-").replace(/^[<>]\s*/, "").match(/^-?\d+(\.\d+)?/);
    return m ? parseFloat(m[0]) : null;
  }

  document.addEventListener("click", function (ev) {
    const th = ev.target.closest && ev.target.closest(".sortable-table thead tr:last-child th");
    if (!th) {
      return;
    }
    const body = th.closest("table").tBodies[0];
    const col = Array.prototype.indexOf.call(th.parentElement.children, th);
    const rows = Array.prototype.slice.call(body.rows);
    rows.forEach(function (r, i) { if (r.dataset.order === undefined) { r.dataset.order = String(i); } });
    const cell = function (r) { return r.cells[col] ? r.cells[col].textContent : ""; };
    const numeric = col > 0 && rows.some(function (r) { return leading(cell(r)) !== null; });
    const first = numeric ? "descending" : "ascending";
    const second = numeric ? "ascending" : "descending";
    const now = th.getAttribute("aria-sort");
    const next = now === first ? second : (now === second ? "none" : first);
    th.parentElement.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    if (next !== "none") {
      th.setAttribute("aria-sort", next);
    }
    const sign = next === "descending" ? -1 : 1;
    const key = function (r) { return numeric ? leading(cell(r)) : cell(r).trim().toLowerCase(); };
    const order = function (a, b) { return Number(a.dataset.order) - Number(b.dataset.order); };
    const pinned = rows.filter(function (r) { return r.classList.contains("row-summary"); }).sort(order);
    const rest = rows.filter(function (r) { return !r.classList.contains("row-summary"); });
    rest.sort(function (a, b) {
      if (next === "none") {
        return order(a, b);
      }
      const ka = key(a), kb = key(b);
      if (ka === null || ka === "" || kb === null || kb === "") {        // no value: last either way
        return (ka === null || ka === "") - (kb === null || kb === "") || order(a, b);
      }
      const c = numeric ? ka - kb : ka.localeCompare(kb);
      return c !== 0 ? sign * c : order(a, b);
    });
    pinned.concat(rest).forEach(function (r) { body.appendChild(r); });
  });
})();

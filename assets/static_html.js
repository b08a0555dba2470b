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
})();

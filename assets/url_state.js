/* View state in the URL query string, without re-rendering the page.
 *
 * A page's clientside callback calls window.haicView.update(state, params[, path]) whenever a control changes: the query
 * string is rewritten with history.replaceState (no navigation, no Dash re-render; 150 ms after the last change,
 * so that a dragged slider does not rewrite it on every move) and the new state -- one query
 * string per page path -- is returned into the session store "view-state". The navbar links are built from that
 * store, so a copied link reproduces the view, a reload keeps it, and going to another page and back (or
 * switching the dataset) never loses it. Only control values go into the URL, never data.
 */
(function () {
  function query(params) {
    const q = new URLSearchParams();
    Object.keys(params || {}).forEach(function (k) {
      const v = params[k];
      if (v !== null && v !== undefined && v !== "" && !(Array.isArray(v) && v.length === 0)) {
        q.set(k, Array.isArray(v) ? v.join(",") : String(v));
      }
    });
    return q.toString();
  }

  // history.replaceState costs several ms in Chromium: while a slider is dragged the address bar is rewritten
  // once the moves pause (150 ms), not on every move, so that it stays off the path of the redraw
  let pending = null;
  let timer = null;
  function flush() {
    timer = null;
    if (pending && window.location.pathname === pending.path &&
        window.location.pathname + window.location.search !== pending.target) {
      window.history.replaceState(window.history.state, "", pending.target);
    }
    pending = null;
  }

  // the dataset a view shows goes into its URL (ds=<id>) unless it is the demo, so that a copied link says
  // which dataset it is and reopens it in another tab of the same browser session (the app checks the owner)
  function datasetId() {
    try {
      return JSON.parse(window.sessionStorage.getItem("dataset-id") || "null");
    } catch (e) {
      return null;
    }
  }

  // path: the page the state belongs to (default: the current one); a write deferred past a navigation passes
  // the path it was made on, so that it lands under that page and never rewrites another page's address
  function update(state, params, path) {
    const ds = datasetId();
    const s = query(Object.assign({}, params, ds && ds !== "demo" ? {ds: ds} : {}));
    path = path || window.location.pathname;
    if (path === window.location.pathname) {
      pending = {path: path, target: path + (s ? "?" + s : "")};
      if (timer !== null) { clearTimeout(timer); }
      timer = setTimeout(flush, 150);
    }
    const next = Object.assign({}, state || {});
    if (next[path] === s) {
      return window.dash_clientside.no_update;
    }
    next[path] = s;
    return next;
  }

  window.haicView = { update: update, query: query };
  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.haic = Object.assign(window.dash_clientside.haic || {}, {
    navHrefs: function (state, dataset) {
      // the remaining arguments are the nav link ids: "nav-data" is "/", "nav-cox" is "/cox"
      const ids = Array.prototype.slice.call(arguments, 2);
      const ds = dataset;
      return ids.map(function (id) {
        const p = id === "nav-data" ? "/" : "/" + id.slice(4);
        // a page's last view, on the dataset open now (its stored ds may be an earlier dataset's)
        const params = new URLSearchParams((state || {})[p] || "");
        if (p !== "/" && ds && ds !== "demo") { params.set("ds", ds); } else { params.delete("ds"); }
        const q = params.toString();
        const href = q ? p + "?" + q : p;
        // only the link whose view changed is updated (a cutoff move re-rendered all seven before)
        const link = document.getElementById(id);
        return link && link.getAttribute("href") === href ? window.dash_clientside.no_update : href;
      });
    },
  });
})();

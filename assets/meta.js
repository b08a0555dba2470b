/* Clientside callbacks of the meta-analysis page (pages/meta.py): window.dash_clientside.meta. */
(function () {
  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.meta = {
    // the forest plot as PNG (3x) or SVG, drawn by plotly in the browser
    downloadForest: function (nPng, nSvg) {
      const t = (window.dash_clientside.callback_context.triggered[0] || {}).prop_id || "";
      const fmt = t.indexOf("svg") >= 0 ? "svg" : "png";
      const host = document.getElementById("meta-forest");
      const el = host && (host.classList.contains("js-plotly-plot") ? host : host.querySelector(".js-plotly-plot"));
      if (!el || !window.Plotly || !el._fullLayout) { return window.dash_clientside.no_update; }
      window.Plotly.downloadImage(el, {format: fmt, filename: "forest-plot", width: el._fullLayout.width,
                                       height: el._fullLayout.height, scale: fmt === "png" ? 3 : 1});
      return Date.now();
    },

    // the study grid's box (pages/meta.py): true once it comes into the window, so that the grid is made when the
    // user scrolls to it, not with the page's first view. Watched from when the table's description or the
    // forest plot has arrived and the browser is idle.
    watchGrid: function (_info, _figure, boxId, wantedId) {
      const dc = window.dash_clientside;
      if (!("IntersectionObserver" in window)) { return true; }
      const box = document.getElementById(boxId);
      if (!box || box.__watched) { return dc.no_update; }
      box.__watched = true;
      const idle = window.requestIdleCallback || function (f) { return setTimeout(f, 50); };
      idle(function () {
        const seen = new IntersectionObserver(function (entries) {
          if (entries.some(function (e) { return e.isIntersecting; })) {
            seen.disconnect();
            dc.set_props(wantedId, {data: true});
          }
        });
        seen.observe(box);
      }, {timeout: 1000});
      return dc.no_update;
    },

    // view state -> URL query string and the navbar link (url_state.js)
    viewState: function (outcome, method, hk, mh, measure, dse, dpct, subgroup, moderator, exclude, tab, rrr, alpha,
                         beta, fut, state) {
      const rows = (exclude || []).map(function (i) { return i + 1; });
      const tsa = tab === "tsa";
      return window.haicView.update(state, {outcome: outcome, method: method, hk: hk ? 1 : null,
        mh: mh ? 1 : null, measure: measure && measure !== "RR" ? measure : null, se: dse ? null : 0,
        pct: dpct ? null : 0, subgroup: subgroup, moderator: moderator, exclude: rows,
        tab: tab && tab !== "funnel" ? tab : null, rrr: tsa ? rrr : null,
        alpha: tsa && alpha !== "0.05" ? alpha : null, beta: tsa && beta !== "0.2" ? beta : null,
        fut: tsa && !fut ? 0 : null});
    },
  };
})();

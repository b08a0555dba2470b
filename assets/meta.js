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

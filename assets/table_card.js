/* Clientside callbacks of the table and figure cards (components/table_card.py): window.dash_clientside.tableCard. */
(function () {
  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.tableCard = {
    // "CSV": the table's CSV text (made on the server when the card was built) as a file, with a byte-order mark
    // so that spreadsheet programs read it as UTF-8
    downloadCsv: function (n, data) {
      if (!n || !data) { return window.dash_clientside.no_update; }
      return {content: "\ufeff" + data.csv, filename: data.filename, type: "text/csv;charset=utf-8",
              base64: false};
    },

    // "PNG" / "SVG": plotly's image of the card's figure at its displayed size; PNG at info.scale times the
    // resolution (components.table_card.PNG_SCALE, in the card's fc-info store)
    downloadFigure: function (nPng, nSvg, info) {
      const t = (window.dash_clientside.callback_context.triggered[0] || {}).prop_id || "";
      const fmt = t.indexOf("fc-svg") >= 0 ? "svg" : "png";
      const host = info && document.getElementById(info.graph);
      const el = host && (host.classList.contains("js-plotly-plot") ? host : host.querySelector(".js-plotly-plot"));
      if (!el || !window.Plotly || !el._fullLayout) { return window.dash_clientside.no_update; }
      window.Plotly.downloadImage(el, {format: fmt, filename: info.filename, width: el._fullLayout.width,
                                       height: el._fullLayout.height, scale: fmt === "png" ? info.scale : 1});
      return Date.now();
    },
  };
})();

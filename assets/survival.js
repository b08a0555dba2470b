/* Clientside callbacks of the survival page (pages/survival.py): window.dash_clientside.survival. */
(function () {
  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.survival = {
    // slider -> number box, in the browser: dragging writes the box, and update_km listens to the box
    sliderToBox: function (sliderValue, boxValue) {
      if (sliderValue === null || sliderValue === undefined || sliderValue === boxValue) {
        return window.dash_clientside.no_update;
      }
      return sliderValue;
    },

    // grid mode: each panel's cutoff into the chosen cutoffs per variable
    gridCutoffs: function (values, ids, state) {
      const next = Object.assign({}, state || {});
      let changed = false;
      ids.forEach(function (id, i) {
        const v = values[i];
        if (v !== null && v !== undefined && next[id.var] !== v) { next[id.var] = v; changed = true; }
      });
      return changed ? next : window.dash_clientside.no_update;
    },

    // After a cutoff's KM figure is drawn, when the browser is idle: the KM card is requested, and the URL, the
    // navbar link, the chosen cutoff per variable, the slider's thumb and the statistic chart's current-cutoff
    // line (layout.shapes[shape], components.cutpoint_figure.CUTOFF_SHAPE) follow. See pages/survival.py.
    afterKmDrawn: function (_atCutoff, _figure, grid, endpoint, v, cutoff, ci, state, chosen, drawn, at, shape) {
      const dc = window.dash_clientside;
      const path = window.location.pathname;   // the survival page's, even if the browser has left it by then
      const later = window.haicAfterKm = window.haicAfterKm || {};
      const idle = window.requestIdleCallback || function (f) { return setTimeout(f, 50); };
      const cancel = window.cancelIdleCallback || clearTimeout;
      if (later.pending) { cancel(later.pending); }
      later.pending = idle(function () {
        later.pending = null;
        const api = window.dash_component_api;
        const card = api.getLayout("km-card-for");
        if (card && JSON.stringify(card.props.data || null) !== JSON.stringify(drawn || null)) {
          dc.set_props("km-card-for", {data: drawn || null});
        }
        const view = window.haicView.update(state, {endpoint: endpoint, var: v, cutoff: cutoff, ci: ci,
                                                    at: at || null, mode: grid ? "grid" : null}, path);
        if (view !== dc.no_update) { dc.set_props("view-state", {data: view}); }
        if (v && v !== "none" && cutoff !== null && cutoff !== undefined && (chosen || {})[v] !== cutoff) {
          dc.set_props("chosen-cutoffs", {data: Object.assign({}, chosen || {}, {[v]: cutoff})});
        }
        const box = api.getLayout("km-cutoff");
        // left the page, or a newer cutoff is on its way (its own figure will bring this here again)
        if (cutoff === null || cutoff === undefined || !box || box.props.value !== cutoff) { return; }
        const slider = api.getLayout("km-slider");
        if (slider && slider.props.value !== cutoff) { dc.set_props("km-slider", {value: cutoff}); }
        const graph = api.getLayout("cp-chart");
        const figure = graph && graph.props && graph.props.figure;
        const shapes = figure && figure.layout && figure.layout.shapes;
        if (!shapes || !shapes.length) { return; }
        const current = shapes[shape];
        if (current.visible && current.x0 === cutoff && current.x1 === cutoff) { return; }
        const moved = shapes.slice();
        moved[shape] = Object.assign({}, current, {x0: cutoff, x1: cutoff, visible: true});
        const layout = Object.assign({}, figure.layout, {shapes: moved});
        dc.set_props("cp-chart", {figure: Object.assign({}, figure, {layout: layout})});
      }, {timeout: 1000});
      return dc.no_update;
    },
  };
})();

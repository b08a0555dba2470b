/* Clientside callbacks of the Cox page (pages/cox.py): window.dash_clientside.cox. */
(function () {
  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.cox = {
    // the form decides which value input shows
    formInputs: function (form) {
      const show = {}, hide = {display: "none"};
      return [form === "continuous" ? show : hide, form === "cut" ? show : hide,
              form === "categorical" ? show : hide];
    },

    // "How each variable enters the model" opens and closes (its rows are drawn only while it is open)
    toggleForms: function (n, open) {
      return n ? !open : window.dash_clientside.no_update;
    },

    // switching to "by hand" starts from the variables the p < 0.05 rule chose; the checklist shows only then
    manualVariables: function (rule, vars, selected) {
      const style = rule === "manual" ? {} : {display: "none"};
      if (rule === "manual" && (!vars || vars.length === 0) && selected && selected.length) {
        return [selected, style];
      }
      return [window.dash_clientside.no_update, style];
    },

    // view state -> URL query string and the navbar link (url_state.js)
    viewState: function (endpoint, rule, vars, cand, groups, defaults, forms, state) {
      const same = cand && defaults && cand.length === defaults.length && cand.every((c, i) => c === defaults[i]);
      const spec = Object.keys(forms || {}).filter(k => (cand || []).indexOf(k) >= 0).map(k => forms[k]);
      return window.haicView.update(state, {endpoint: endpoint, rule: rule,
                                            vars: rule === "manual" ? vars : null,
                                            cand: (cand && !same) ? cand : null, groups: groups ? null : "0",
                                            spec: spec.length ? spec : null});
    },
  };
})();

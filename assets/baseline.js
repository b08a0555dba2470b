/* Clientside callbacks of the baseline page (pages/baseline.py): window.dash_clientside.baseline. */
(function () {
  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.baseline = {
    // view state -> URL query string and the navbar link (url_state.js)
    viewState: function (by, num, state) {
      return window.haicView.update(state, {by: by === "none" ? null : by, num: num === "both" ? null : num});
    },
  };
})();

/* Clientside callbacks of the safety page (pages/safety.py): window.dash_clientside.safety. */
(function () {
  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.safety = {
    // view state -> URL query string and the navbar link (url_state.js)
    viewState: function (by, top, state) {
      return window.haicView.update(state, {by: by === "none" ? null : by, top: top === "20" ? null : top});
    },
  };
})();

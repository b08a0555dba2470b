/* Clientside callbacks of the response page (pages/response.py): window.dash_clientside.response. */
(function () {
  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.response = {
    // view state -> URL query string and the navbar link (url_state.js)
    viewState: function (by, criterion, endpoint, landmark, state) {
      return window.haicView.update(state, {by: by === "none" ? null : by, criterion: criterion,
                                            endpoint: endpoint, landmark: landmark === "0" ? null : landmark});
    },
  };
})();

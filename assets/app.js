/* Clientside callbacks of the app shell (app.py): window.dash_clientside.haic (url_state.js adds navHrefs). */
(function () {
  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.haic = Object.assign(window.dash_clientside.haic || {}, {
    // presentation mode: large fonts, thick lines, high contrast (figures read the switch; CSS does the rest)
    presentation: function (on) {
      document.body.classList.toggle("presentation", !!on);
      return on ? "presentation" : "";
    },
  });
})();

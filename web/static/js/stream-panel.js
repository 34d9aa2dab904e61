// The clerk's stream panel (templates/media/stream_panel.html): refresh it at once when the stream
// starts, ends, restarts or the media disk runs full (timeline events "stream.*" on the meeting's
// server-sent events) instead of waiting for the panel's 10-second poll. Progressive enhancement:
// without this file the poll (htmx) or a page reload shows the same.
(function () {
  "use strict";
  var timer = null;

  function refresh() {
    var panel = document.getElementById("stream-panel");
    if (!panel || !window.htmx) { return; }
    if (panel.querySelector("[data-stream-key]")) { return; } // never pull a fresh key off the screen
    var url = panel.getAttribute("data-stream-panel-url");
    if (url) { window.htmx.ajax("GET", url, { source: panel, target: "#stream-panel", swap: "outerHTML" }); }
  }

  function connect(el) {
    if (!window.EventSource) { return; }
    var source = new EventSource(el.getAttribute("data-stream-events"));
    source.addEventListener("timeline", function (e) {
      var kind = "";
      try { kind = JSON.parse(e.data).kind || ""; } catch (err) { return; }
      if (kind.indexOf("stream.") !== 0) { return; }
      clearTimeout(timer);
      timer = setTimeout(refresh, 200);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var el = document.querySelector("[data-stream-events]");
    if (el) { connect(el); }
  });
})();

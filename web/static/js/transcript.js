// Transcript corrections (progressive enhancement; the forms work without this file).
// htmx 2 does not swap error responses: a 400 for a correction carries the form with its message, so
// swap it into the line like a success.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target;
    if (e.detail.xhr.status === 400 && target && target.closest && target.closest("[data-transcript]")) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });
})();

// Progressive enhancement only: every page works without this file.
// Live area: elements with data-live-url subscribe to the meeting's server-sent events and mark the
// agenda item now under discussion (elements with data-agenda-item="ID").
(function () {
  "use strict";
  function applyState(root, state) {
    var current = state.agenda_item_id;
    document.querySelectorAll("[data-agenda-item]").forEach(function (el) {
      var on = String(current) === el.getAttribute("data-agenda-item");
      el.classList.toggle("is-current", on);
      if (on) { el.setAttribute("aria-current", "true"); } else { el.removeAttribute("aria-current"); }
    });
    var status = root.querySelector("[data-live-status]");
    if (status) {
      var msg = state.is_open ? root.getAttribute("data-text-open") : (state.is_closed ? root.getAttribute("data-text-closed") : root.getAttribute("data-text-idle"));
      var item = current ? document.querySelector('[data-agenda-item="' + current + '"] [data-item-title]') : null;
      if (item && state.is_open) { msg = msg + " – " + item.textContent.trim(); }
      status.textContent = msg;
    }
    root.classList.toggle("is-live", !!state.is_open);
  }
  function connect(root) {
    if (!window.EventSource) { return; }
    var state = {};
    var source = new EventSource(root.getAttribute("data-live-url"));
    source.addEventListener("state", function (e) {
      state = JSON.parse(e.data);
      root.setAttribute("data-live-connected", "");  // the stream is open: later events will arrive
      applyState(root, state);
      // live-meeting.js (quorum, current speaker) listens for the state as well
      root.dispatchEvent(new CustomEvent("rathaus:state", { detail: state, bubbles: true }));
    });
    source.addEventListener("timeline", function (e) {
      var ev = JSON.parse(e.data);
      if (ev.kind === "meeting.opened") { state.is_open = true; state.is_closed = false; }
      if (ev.kind === "meeting.closed") { state.is_open = false; state.is_closed = true; state.agenda_item_id = null; }
      if (ev.kind === "agenda_item.started") { state.agenda_item_id = ev.agenda_item_id; }
      if (ev.kind === "agenda_item.ended" && state.agenda_item_id === ev.agenda_item_id) { state.agenda_item_id = null; }
      applyState(root, state);
      root.dispatchEvent(new CustomEvent("rathaus:timeline", { detail: ev, bubbles: true }));
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-url]").forEach(connect);
  });
})();

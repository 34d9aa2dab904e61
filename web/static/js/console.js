// The clerk's console and the councillor's device page: progressive enhancement only (both pages work
// with plain forms and redirects). With JS, htmx posts the forms and swaps the block; this file
// - refreshes the block whenever the meeting's timeline changes (server-sent events), so that two
//   consoles, the devices and the console stay in step;
// - lets 400/409 answers (which carry the block with the message) be swapped in;
// - keeps keyboard focus on the same control across swaps;
// - adds drag-and-drop ordering to the list of speakers (the up/down buttons stay the accessible way).
(function () {
  "use strict";
  var pending = {};
  var timers = {};

  function target(sel) { return document.querySelector(sel); }

  function refresh(sel) {
    var el = target(sel);
    if (!el || !window.htmx) { return; }
    var active = document.activeElement;
    if (active && active.tagName === "SELECT" && el.contains(active)) {
      pending[sel] = true; // do not pull a choice away from under the user; refresh when they leave
      return;
    }
    pending[sel] = false;
    window.htmx.ajax("GET", el.getAttribute("data-console-refresh"), { source: el, target: sel, swap: "outerHTML" });
  }

  function schedule(sel) {
    clearTimeout(timers[sel]);
    timers[sel] = setTimeout(function () { refresh(sel); }, 150);
  }

  function connect(el) {
    if (!window.EventSource) { return; }
    var sel = el.getAttribute("data-console-target");
    var first = true;
    var source = new EventSource(el.getAttribute("data-console-live"));
    source.addEventListener("state", function () {
      if (first) { first = false; return; }
      schedule(sel); // reconnected: we may have missed events
    });
    source.addEventListener("timeline", function () { schedule(sel); });
  }

  var focusId = null;
  document.addEventListener("htmx:beforeSwap", function (e) {
    var status = e.detail.xhr ? e.detail.xhr.status : 0;
    var tgt = e.detail.target;
    if ((status === 400 || status === 409) && tgt && tgt.hasAttribute("data-console-refresh")) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
    var active = document.activeElement;
    focusId = active && active.id && tgt && tgt.contains(active) ? active.id : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (focusId) {
      var again = document.getElementById(focusId);
      if (again) { again.focus(); }
      focusId = null;
    }
    setupSortable();
  });
  document.addEventListener("focusout", function (e) {
    var t = e.target;
    if (!t || t.tagName !== "SELECT") { return; }
    Object.keys(pending).forEach(function (sel) {
      var el = target(sel);
      if (pending[sel] && el && el.contains(t)) { setTimeout(function () { refresh(sel); }, 0); }
    });
  });

  // --- drag and drop on the list of speakers ---
  function setupSortable() {
    document.querySelectorAll("[data-console-sortable]").forEach(function (list) {
      if (list.getAttribute("data-sortable-ready")) { return; }
      list.setAttribute("data-sortable-ready", "1");
      var dragged = null;
      list.querySelectorAll("li[data-person-id]").forEach(function (li) {
        li.setAttribute("draggable", "true");
        li.addEventListener("dragstart", function (e) {
          dragged = li;
          li.classList.add("is-dragging");
          if (e.dataTransfer) { e.dataTransfer.effectAllowed = "move"; e.dataTransfer.setData("text/plain", li.getAttribute("data-person-id")); }
        });
        li.addEventListener("dragend", function () { li.classList.remove("is-dragging"); });
        li.addEventListener("dragover", function (e) {
          if (!dragged || dragged === li) { return; }
          e.preventDefault();
          var rect = li.getBoundingClientRect();
          var after = (e.clientY - rect.top) > rect.height / 2;
          list.insertBefore(dragged, after ? li.nextSibling : li);
        });
      });
      list.addEventListener("drop", function (e) {
        e.preventDefault();
        if (!dragged || !window.htmx) { return; }
        dragged = null;
        var order = [];
        list.querySelectorAll("li[data-person-id]").forEach(function (li) { order.push(li.getAttribute("data-person-id")); });
        var root = list.closest("[data-console-target]");
        window.htmx.ajax("POST", list.getAttribute("data-console-sortable"), {
          source: root,
          target: root.getAttribute("data-console-target"),
          swap: "outerHTML",
          values: { item_id: list.getAttribute("data-item-id"), order: order.join(",") }
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-console-live]").forEach(connect);
    setupSortable();
  });
})();

// Drag-and-drop reordering of the agenda builder (progressive enhancement: the up/down buttons are the
// way without JavaScript and for keyboard users). A drop posts the whole new order with the version the
// page was rendered from; a refused save (409: someone else changed the agenda) shows the message and
// the page is reloaded to the current state.
(function () {
  "use strict";
  function post(list, ids) {
    var token = document.querySelector('input[name="_csrf_token"]');
    var body = new URLSearchParams();
    body.set("version", list.getAttribute("data-version"));
    body.set("order", ids.join(","));
    if (token) { body.set("_csrf_token", token.value); }
    return fetch(list.getAttribute("data-action"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "x-csrftoken": token ? token.value : "", "x-requested-with": "fetch" },
      redirect: "manual"
    });
  }
  function allIds() {
    var ids = [];
    document.querySelectorAll("ol.bo-agenda > li[data-item-id]").forEach(function (li) {
      ids.push(li.getAttribute("data-item-id"));
    });
    return ids;
  }
  function init(list) {
    var dragged = null;
    list.querySelectorAll(":scope > li[data-item-id]").forEach(function (li) {
      li.setAttribute("draggable", "true");
      li.addEventListener("dragstart", function (e) {
        dragged = li;
        e.dataTransfer.effectAllowed = "move";
        e.dataTransfer.setData("text/plain", li.getAttribute("data-item-id"));
      });
      li.addEventListener("dragover", function (e) {
        if (dragged && dragged !== li && dragged.parentNode === li.parentNode) { e.preventDefault(); }
      });
      li.addEventListener("drop", function (e) {
        if (!dragged || dragged === li || dragged.parentNode !== li.parentNode) { return; }
        e.preventDefault();
        var rect = li.getBoundingClientRect();
        var after = e.clientY > rect.top + rect.height / 2;
        li.parentNode.insertBefore(dragged, after ? li.nextSibling : li);
        dragged = null;
        post(list, allIds()).then(function (r) {
          if (r.ok || r.type === "opaqueredirect" || r.status === 0 || (r.status >= 300 && r.status < 400)) {
            window.location.reload();
            return;
          }
          return r.text().then(function () {
            var status = document.getElementById("bo-dnd-status");
            if (status) { status.textContent = status.getAttribute("data-text-refused"); }
            window.setTimeout(function () { window.location.reload(); }, 1500);
          });
        });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("ol.bo-agenda[data-action]").forEach(init);
  });
})();

// Council votes — progressive enhancement only: every page works without this file.
// 1. The public meeting page: [data-vote-results] shows results as they happen, from the meeting's
//    timeline events (vote.opened / vote.closed / vote.annulled) that rathaus.js re-dispatches as
//    "rathaus:timeline". Everything is built with textContent: no HTML from the server is injected.
// 2. Ballot and clerk regions ([data-vote-ballot], [data-vote-clerk]) are reloaded through htmx
//    ("rathaus:vote") when a vote event arrives. Where the page has no event stream of its own
//    (no [data-live-url], no [data-console-live]), this file opens the meeting's stream itself
//    (the region's data-vote-live).
(function () {
  "use strict";
  if (window.rathausVote) { return; }
  window.rathausVote = true;

  function isVote(ev) { return ev && typeof ev.kind === "string" && ev.kind.indexOf("vote.") === 0; }

  function refreshRegions() {
    if (!window.htmx) { return; }
    document.querySelectorAll("[data-vote-ballot],[data-vote-clerk]").forEach(function (el) {
      window.htmx.trigger(el, "rathaus:vote");
    });
  }

  function node(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    if (text !== undefined && text !== null) { el.textContent = String(text); }
    return el;
  }

  function label(region, name, fallback) { return region.getAttribute("data-text-" + name) || fallback; }

  function card(region, ev) {
    var p = ev.payload || {};
    if (!p.poll_id) { return null; }
    var root = node("article", "poll-result poll-" + (p.state || ""));
    root.setAttribute("data-vote-poll", String(p.poll_id));
    var title = (p.item_number ? p.item_number + " " : "") + (p.item_name || p.question || label(region, "poll", "Abstimmung"));
    var h = node("h3", null, title);
    h.id = "vote-live-" + p.poll_id;
    root.setAttribute("aria-labelledby", h.id);
    root.appendChild(h);
    if (p.question && p.item_name) { root.appendChild(node("p", "poll-question", p.question)); }
    if (ev.kind === "vote.opened") {
      root.appendChild(node("p", "poll-running", label(region, "open", "Die Abstimmung läuft.")));
    } else if (ev.kind === "vote.annulled") {
      root.appendChild(node("p", "notice notice-error", label(region, "annulled", "Aufgehoben") + (p.reason ? ": " + p.reason : "")));
    } else if (ev.kind === "vote.closed") {
      if (!p.tally) { return null; }
      var outcome = node("p", "poll-outcome");
      outcome.appendChild(node("strong", null, p.summary || p.outcome || ""));
      outcome.setAttribute("data-vote-outcome", p.adopted ? "adopted" : "rejected");
      root.appendChild(outcome);
      if (p.explanation) { root.appendChild(node("p", "poll-explanation", p.explanation)); }
      if (p.votes && p.votes.length) {
        var table = node("table", "named-votes");
        table.appendChild(node("caption", null, label(region, "named", "Namentliche Abstimmung")));
        var head = node("thead"), hr = node("tr");
        [label(region, "name", "Name"), label(region, "vote", "Stimme")].forEach(function (t) {
          var th = node("th", null, t); th.setAttribute("scope", "col"); hr.appendChild(th);
        });
        head.appendChild(hr); table.appendChild(head);
        var body = node("tbody");
        p.votes.forEach(function (v) {
          var tr = node("tr"), th = node("th", null, v.name);
          th.setAttribute("scope", "row");
          tr.appendChild(th);
          tr.appendChild(node("td", null, label(region, v.choice, v.choice)));
          body.appendChild(tr);
        });
        table.appendChild(body);
        root.appendChild(table);
      }
      if (p.excluded && p.excluded.length) {
        root.appendChild(node("p", null, label(region, "excluded", "Wegen Befangenheit ausgeschlossen") + ": " + p.excluded.join(", ")));
      }
      if (p.chain_head) {
        var check = node("p", "muted chain-head", label(region, "chain", "Prüfsumme (Kettenkopf)") + ": ");
        check.appendChild(node("code", null, p.chain_head));
        check.appendChild(document.createTextNode(" · "));
        var a = node("a", null, label(region, "check", "Ergebnis prüfen"));
        a.href = "/abstimmungen/" + encodeURIComponent(p.poll_id) + "/pruefung";
        check.appendChild(a);
        root.appendChild(check);
      }
    } else {
      return null;
    }
    return root;
  }

  function render(region, ev) {
    var list = region.querySelector("[data-vote-list]");
    if (!list) { return; }
    var el = card(region, ev);
    var id = ev.payload && ev.payload.poll_id;
    var old = id ? list.querySelector('[data-vote-poll="' + String(id).replace(/[^0-9]/g, "") + '"]') : null;
    if (!el) { if (old && ev.kind === "vote.closed") { old.remove(); } return; }
    if (old) { list.replaceChild(el, old); } else { list.insertBefore(el, list.firstChild); }
    region.hidden = false;
    var empty = region.querySelector("[data-vote-empty]");
    if (empty) { empty.hidden = true; }
  }

  function onTimeline(ev) {
    if (!isVote(ev)) { return; }
    document.querySelectorAll("[data-vote-results]").forEach(function (region) { render(region, ev); });
    refreshRegions();
  }

  document.addEventListener("rathaus:timeline", function (e) { onTimeline(e.detail); });

  var connected = {};
  function connectOwn() {
    if (!window.EventSource) { return; }
    if (document.querySelector("[data-live-url],[data-console-live]")) { return; }
    document.querySelectorAll("[data-vote-live]").forEach(function (el) {
      var url = el.getAttribute("data-vote-live");
      if (!url || connected[url]) { return; }
      connected[url] = true;
      var source = new EventSource(url);
      source.addEventListener("timeline", function (e) {
        var ev;
        try { ev = JSON.parse(e.data); } catch (err) { return; }
        onTimeline(ev);
      });
    });
  }
  document.addEventListener("DOMContentLoaded", connectOwn);
  document.addEventListener("htmx:load", connectOwn);
})();

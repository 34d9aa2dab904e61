// Question time on the public meeting page: "Frage N wird beantwortet" while the clerk marks it in the
// console. Listens to the timeline events rathaus.js re-dispatches from the meeting's server-sent
// events (question.answering / question.answered). Without JavaScript the list shows the state as of
// the page load.
(function () {
  "use strict";
  document.addEventListener("rathaus:timeline", function (e) {
    var ev = e.detail || {};
    if (ev.kind !== "question.answering" && ev.kind !== "question.answered") { return; }
    var area = document.querySelector("[data-question-live-area]");
    if (!area) { return; }
    var p = ev.payload || {};
    var live = area.querySelector("[data-question-live]");
    var n = p.number || p.question_id;
    if (live) {
      if (ev.kind === "question.answering") {
        live.textContent = String(area.getAttribute("data-text-answering") || "").replace("{n}", String(n));
        live.hidden = false;
      } else {
        live.hidden = true;
        live.textContent = "";
      }
    }
    var item = area.querySelector('[data-question="' + String(Number(p.question_id)) + '"] [data-question-state]');
    if (item && ev.kind === "question.answered") { item.textContent = area.getAttribute("data-text-answered") || ""; }
  });
})();

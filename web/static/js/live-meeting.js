// The public meeting page, live: the quorum line and the current speaker (with "transmission paused"
// when the speaker did not consent to streaming). Listens to the events rathaus.js re-dispatches
// from the meeting's server-sent events ("rathaus:state" first, then "rathaus:timeline").
(function () {
  "use strict";
  var state = { is_open: false, quorum: null, speaker: null };

  function fill(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (m, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : m;
    });
  }

  function render() {
    var q = document.querySelector("[data-live-quorum]");
    if (q) {
      var show = !!(state.is_open && state.quorum);
      q.hidden = !show;
      if (show) {
        var t = state.quorum.reached ? q.getAttribute("data-text-quorum-yes") : q.getAttribute("data-text-quorum-no");
        q.textContent = fill(t, { present: state.quorum.present_voting, statutory: state.quorum.statutory, required: state.quorum.required });
        q.classList.toggle("quorum-reached", !!state.quorum.reached);
        q.classList.toggle("quorum-missing", !state.quorum.reached);
      }
    }
    var s = document.querySelector("[data-live-speaker]");
    if (s) {
      var speaking = !!(state.is_open && state.speaker);
      s.hidden = !speaking;
      var name = s.querySelector("[data-live-speaker-name]");
      var paused = s.querySelector("[data-live-paused]");
      if (speaking && name) { name.textContent = fill(s.getAttribute("data-text-speaker"), { name: state.speaker.name || "" }); }
      if (paused) { paused.hidden = !(speaking && state.speaker.consent === false); }
    }
  }

  document.addEventListener("rathaus:state", function (e) {
    var d = e.detail || {};
    state.is_open = !!d.is_open;
    state.quorum = d.quorum || null;
    state.speaker = d.speaker_person_id ? { id: d.speaker_person_id, name: d.speaker_name, consent: d.speaker_consent } : null;
    render();
  });

  document.addEventListener("rathaus:timeline", function (e) {
    var ev = e.detail || {};
    var payload = ev.payload || {};
    switch (ev.kind) {
      case "meeting.opened": state.is_open = true; break;
      case "meeting.closed": state.is_open = false; state.speaker = null; break;
      case "attendance.joined":
      case "attendance.left":
        if (payload.quorum) { state.quorum = payload.quorum; }
        break;
      case "agenda_item.started":
      case "agenda_item.ended":
        state.speaker = null; break;
      case "speaker.started": state.speaker = { id: ev.person_id, name: payload.name, consent: ev.consent }; break;
      case "speaker.ended": if (state.speaker && state.speaker.id === ev.person_id) { state.speaker = null; } break;
      default: return;
    }
    render();
  });
})();

// Live captions (transcripts): "caption" messages on the meeting's channel arrive as timeline events;
// the newest few stay in the list (aria-live polite), the server renders the last ones on reload.
(function () {
  "use strict";
  var KEEP = 6;
  document.addEventListener("rathaus:timeline", function (e) {
    var ev = e.detail || {};
    if (ev.kind !== "caption" || typeof ev.text !== "string") { return; }
    var list = document.querySelector("[data-live-captions]");
    if (!list) { return; }
    var area = document.querySelector("[data-live-captions-area]");
    if (area) { area.hidden = false; }
    var li = document.createElement("li");
    li.textContent = ev.text;
    list.appendChild(li);
    while (list.children.length > KEEP) { list.removeChild(list.firstElementChild); }
  });
})();

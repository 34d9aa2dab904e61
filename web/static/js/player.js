// The meeting video player (templates/media/_player.html). Progressive enhancement: without this
// file the archive MP4 plays in the browser's own player (starting at #t=), chapter links open the
// video page at that second, and Safari plays the live HLS stream natively.
//
// With it:
// - hls.js (vendored, web/static/vendor) plays the public HLS playlist (live or archive) in browsers
//   without native HLS; its subtitle track comes from the multivariant playlist (live captions);
//   the archive's captions.vtt comes as a plain <track> instead (hls.js subtitles are then off);
// - chapter links (data-seek) seek in place and keep ?t= in the address bar;
// - the live badge follows the playlist (live until it ends);
// - "Jetzt: TOP …" names the agenda item under discussion, from the timeline over SSE;
// - "Niedrige Latenz (WebRTC)" switches to the WHEP relay (S-webrtc's whep.js) and falls back to
//   HLS when the relay refuses (503: viewer cap) or fails.
// The element carries data-player-state ("hls", "native", "mp4", "whep", "error") for tests.
(function () {
  "use strict";

  function attr(el, name) { return el.getAttribute(name) || ""; }

  function whepApi() {
    // whep.js (S-webrtc): RathausWhep.startWhep(video, url, {onFallback, onPlaying}) -> {stop()}
    var api = window.RathausWhep;
    return api && typeof api.startWhep === "function" ? api : null;
  }

  function setup(root) {
    var video = root.querySelector("[data-player-video]");
    if (!video) { return; }
    var src = attr(root, "data-hls");
    var start = parseFloat(attr(root, "data-start")) || 0;
    var live = attr(root, "data-live") === "true";
    var nativeCaptions = attr(root, "data-native-captions") === "true";
    var hasHls = !!video.querySelector('source[type="application/vnd.apple.mpegurl"]');
    var status = root.querySelector("[data-player-status]");
    var badge = root.querySelector("[data-player-live]");
    var lowButton = root.querySelector("[data-player-lowlatency]");
    var hls = null;
    var whepSession = null;

    function say(text) { if (status) { status.textContent = text || ""; } }
    function state(name) { root.setAttribute("data-player-state", name); }
    function setLive(on) { if (badge) { badge.hidden = !on; } root.classList.toggle("is-live", !!on); }

    // Play now, with sound if the browser lets us, else muted (every browser allows muted playback;
    // the controls unmute). Used where the viewer asked for a switch and expects the picture to go on.
    function playSoon() {
      var p = video.play();
      if (!p || !p.catch) { return; }
      p.catch(function (err) {
        if (!err || err.name !== "NotAllowedError" || video.muted) { return; }
        video.muted = true;
        var q = video.play();
        if (q && q.catch) { q.catch(function () { /* the viewer presses play */ }); }
      });
    }

    // autoplay: the viewer was watching (a switch back from WebRTC), so go on playing.
    function startHls(autoplay) {
      var Hls = window.Hls;
      if (!hasHls) { state("mp4"); return; }
      if (Hls && Hls.isSupported()) {
        // The <source> children are for the browser's own player: hls.js feeds the element via MSE.
        Array.prototype.slice.call(video.querySelectorAll("source")).forEach(function (s) { s.remove(); });
        video.removeAttribute("src");
        hls = new Hls({
          enableWorker: true,
          enableWebVTT: !nativeCaptions,
          renderTextTracksNatively: true,
          startPosition: start > 0 ? start : -1,
          liveSyncDurationCount: 2,
          backBufferLength: 60
        });
        var recovered = false;
        hls.on(Hls.Events.ERROR, function (_event, data) {
          if (!data || !data.fatal) { return; }
          if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !recovered) { recovered = true; hls.recoverMediaError(); return; }
          if (data.type === Hls.ErrorTypes.NETWORK_ERROR && !recovered) { recovered = true; hls.startLoad(); return; }
          state("error");
          root.setAttribute("data-player-error", String(data.details || data.type));
          say(attr(root, "data-text-error"));
        });
        hls.on(Hls.Events.LEVEL_LOADED, function (_event, data) {
          if (data && data.details) { setLive(!!data.details.live); }
        });
        if (autoplay) {
          hls.once(Hls.Events.MANIFEST_PARSED, function () { playSoon(); });
        }
        hls.loadSource(src);
        hls.attachMedia(video);
        root.rathausHls = hls; // for bench/streaming.py (latency from hls.playingDate)
        state("hls");
        return;
      }
      if (video.canPlayType("application/vnd.apple.mpegurl")) {
        video.src = src;
        if (autoplay) { playSoon(); }
        if (start > 0) {
          video.addEventListener("loadedmetadata", function once() {
            video.removeEventListener("loadedmetadata", once);
            video.currentTime = start;
          });
        }
        state("native");
        return;
      }
      state("mp4");
    }

    function stopHls() {
      if (hls) { hls.destroy(); hls = null; }
    }

    function seek(seconds) {
      if (!isFinite(seconds)) { return; }
      try { video.currentTime = seconds; } catch (e) { /* not seekable yet: keep the start */ start = seconds; }
      var p = video.play();
      if (p && p.catch) { p.catch(function () { /* autoplay refused: the user presses play */ }); }
    }

    document.querySelectorAll("a[data-seek]").forEach(function (a) {
      a.addEventListener("click", function (e) {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) { return; }
        e.preventDefault();
        var seconds = parseFloat(a.getAttribute("data-seek"));
        seek(seconds);
        if (window.history && window.history.replaceState) {
          window.history.replaceState(null, "", "?t=" + Math.floor(seconds));
        }
        video.focus();
      });
    });

    function backToHls(message) {
      if (whepSession) {
        var old = whepSession;
        whepSession = null;
        try { old.stop(); } catch (e) { /* gone already */ }
      }
      video.srcObject = null;
      if (lowButton) { lowButton.setAttribute("aria-pressed", "false"); }
      say(message || "");
      startHls(true);
    }

    if (lowButton && live && src) {
      var api = whepApi();
      if (api && window.RTCPeerConnection) {
        lowButton.hidden = false;
        lowButton.addEventListener("click", function () {
          if (lowButton.getAttribute("aria-pressed") === "true") { backToHls(""); return; }
          lowButton.setAttribute("aria-pressed", "true");
          stopHls();
          video.removeAttribute("src");
          state("whep");
          say("");
          whepSession = api.startWhep(video, attr(root, "data-whep"), {
            // 503 (viewer cap), a refusal, or a connection that fails: back to HLS, and say so.
            onFallback: function () { whepSession = null; backToHls(attr(root, "data-text-fallback")); }
          });
        });
      }
    }

    // The agenda item on screen now ("Jetzt: …"), live only: the first state and every agenda event
    // from the meeting's server-sent events. The title comes from the page's own agenda or chapter
    // list ([data-agenda-item] [data-item-title]), so an item this viewer may not see stays unnamed.
    var now = root.querySelector("[data-player-now]");
    var nowTitle = now ? now.querySelector("[data-player-now-title]") : null;
    var currentItem = null;
    function showItem(id) {
      currentItem = id || null;
      if (!now || !nowTitle) { return; }
      // only while live: the archive has its chapter list instead
      var el = currentItem && root.classList.contains("is-live") ? document.querySelector('[data-agenda-item="' + String(currentItem) + '"]') : null;
      var title = el ? el.querySelector("[data-item-title]") : null;
      if (!title) { now.hidden = true; nowTitle.textContent = ""; return; }
      var number = el.querySelector(".number");
      nowTitle.textContent = (number ? number.textContent.trim() + " " : "") + title.textContent.trim();
      now.hidden = false;
    }
    document.addEventListener("rathaus:state", function (e) { showItem((e.detail || {}).agenda_item_id); });

    // The stream's start and end arrive as timeline events (rathaus.js re-dispatches them).
    document.addEventListener("rathaus:timeline", function (e) {
      var kind = (e.detail || {}).kind;
      var item = (e.detail || {}).agenda_item_id;
      if (kind === "agenda_item.started") { showItem(item); }
      if (kind === "agenda_item.ended" && item === currentItem) { showItem(null); }
      if (kind === "meeting.closed") { showItem(null); }
      if (kind === "stream.ended") { setLive(false); showItem(null); if (lowButton) { lowButton.hidden = true; } if (whepSession) { backToHls(""); } }
      if (kind === "stream.started") { setLive(true); }
    });

    setLive(live);
    startHls();
  }

  function init() { document.querySelectorAll("[data-player]").forEach(setup); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();

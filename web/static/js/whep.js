/* WHEP player helper (low-latency WebRTC viewing), used by the player page.
 *
 *   const session = RathausWhep.startWhep(videoElement, "/whep/12", {onFallback(reason) {…}, onPlaying() {…}});
 *   session.stop();
 *
 * No trickle ICE: the offer is sent once ICE gathering is complete (the server answers with all its
 * candidates). On a 503 (viewer cap reached: the server says to use HLS), any other refusal, or a
 * connection that fails or never starts, `onFallback(reason)` is called once and the session stops;
 * the page then plays HLS. No STUN/TURN servers are configured (nothing leaves the site).
 */
(function () {
  "use strict";

  var START_TIMEOUT_MS = 10000;
  var GATHER_TIMEOUT_MS = 3000;

  function gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      var timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
      pc.addEventListener("icegatheringstatechange", function () {
        if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
      });
    });
  }

  function startWhep(video, url, options) {
    options = options || {};
    var pc = new RTCPeerConnection({iceServers: []});
    var location = null;
    var stopped = false;
    var playing = false;
    var fellBack = false;
    var stream = new MediaStream();

    function fallback(reason) {
      if (fellBack || stopped) return;
      fellBack = true;
      stop();
      if (typeof options.onFallback === "function") options.onFallback(reason);
    }

    function stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(startTimer);
      window.removeEventListener("pagehide", stop);
      video.removeEventListener("playing", onPlaying);
      if (video.srcObject === stream) video.srcObject = null;
      var close = function () { try { pc.close(); } catch (e) { /* already closed */ } };
      // DELETE first, then close: a closed peer ends the session on the server before the DELETE.
      if (location) {
        var target = location;
        location = null;
        fetch(target, {method: "DELETE", credentials: "same-origin", keepalive: true}).then(close, close);
      } else {
        close();
      }
    }

    var startTimer = setTimeout(function () { if (!playing) fallback("timeout"); }, START_TIMEOUT_MS);

    pc.addTransceiver("video", {direction: "recvonly"});
    pc.addTransceiver("audio", {direction: "recvonly"});
    pc.addEventListener("track", function (event) {
      stream.addTrack(event.track);
      if (video.srcObject !== stream) video.srcObject = stream;
      var p = video.play();
      if (p && p.catch) p.catch(function (err) {
        // Sound without a fresh click may be refused (Safari): play muted, the controls unmute.
        // Without this the start timer would take a working connection for a failed one.
        if (!err || err.name !== "NotAllowedError" || video.muted || stopped) return;
        video.muted = true;
        var q = video.play();
        if (q && q.catch) q.catch(function () { /* the viewer presses play */ });
      });
    });
    pc.addEventListener("connectionstatechange", function () {
      if (pc.connectionState === "failed") fallback("failed");
    });
    function onPlaying() {
      video.removeEventListener("playing", onPlaying);
      if (stopped || video.srcObject !== stream) return;
      playing = true;
      clearTimeout(startTimer);
      if (typeof options.onPlaying === "function") options.onPlaying();
    }
    video.addEventListener("playing", onPlaying);

    pc.createOffer()
      .then(function (offer) { return pc.setLocalDescription(offer); })
      .then(function () { return gathered(pc); })
      .then(function () {
        if (stopped) return null;
        return fetch(url, {
          method: "POST",
          credentials: "same-origin",
          headers: {"Content-Type": "application/sdp"},
          body: pc.localDescription.sdp,
        });
      })
      .then(function (response) {
        if (!response || stopped) return null;
        if (response.status !== 201) {
          fallback(response.status === 503 ? "full" : "refused:" + response.status);
          return null;
        }
        var loc = response.headers.get("Location");
        if (loc) location = new URL(loc, window.location.href).href;
        return response.text().then(function (answer) {
          if (stopped) return null;
          return pc.setRemoteDescription({type: "answer", sdp: answer});
        });
      })
      .catch(function (error) { fallback("error:" + (error && error.name ? error.name : error)); });

    window.addEventListener("pagehide", stop);
    return {stop: stop, peerConnection: pc};
  }

  window.RathausWhep = {startWhep: startWhep};
})();

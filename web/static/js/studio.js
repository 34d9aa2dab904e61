/* The clerk's studio page: this device's camera and microphone → WHIP (RFC 9725).
 *
 * The page (web/templates/console/studio.html) carries the WHIP URL and the status texts (German,
 * translated server-side) as data attributes. Non-trickle: the offer goes out once ICE gathering is
 * complete; the stream key is sent as a Bearer token; the Location of the answer is DELETEd to stop.
 */
(function () {
  "use strict";

  var root = document.getElementById("studio");
  if (!root) return;
  var preview = document.getElementById("studio-preview");
  var keyInput = document.getElementById("studio-key");
  var startButton = document.getElementById("studio-start");
  var stopButton = document.getElementById("studio-stop");
  var statusEl = document.getElementById("studio-status");
  var errorEl = document.getElementById("studio-error");
  var msg = function (name) { return root.getAttribute("data-msg-" + name) || ""; };

  var media = null;
  var pc = null;
  var location = null;

  function status(text) { statusEl.textContent = text; }
  function error(text) { errorEl.textContent = text; }
  function busy(sending) {
    startButton.disabled = sending;
    stopButton.disabled = !sending;
    root.setAttribute("data-state", sending ? "sending" : "idle");
  }

  function gathered(conn) {
    if (conn.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      var timer = setTimeout(resolve, 3000);
      conn.addEventListener("icegatheringstatechange", function () {
        if (conn.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
      });
    });
  }

  function getMedia() {
    if (media) return Promise.resolve(media);
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return Promise.reject(new Error(msg("nomedia")));
    }
    return navigator.mediaDevices
      .getUserMedia({video: {width: {ideal: 1280}, height: {ideal: 720}, frameRate: {ideal: 25}}, audio: true})
      .then(function (stream) {
        media = stream;
        preview.srcObject = stream;
        return stream;
      }, function () { throw new Error(msg("nomedia")); });
  }

  function teardown() {
    if (pc) { try { pc.close(); } catch (e) { /* closed */ } }
    pc = null;
  }

  function start() {
    error("");
    var key = (keyInput.value || "").trim();
    if (!key) { error(msg("nokey")); keyInput.focus(); return; }
    busy(true);
    status(msg("starting"));
    getMedia()
      .then(function (stream) {
        pc = new RTCPeerConnection({iceServers: []});
        stream.getTracks().forEach(function (track) {
          pc.addTransceiver(track, {direction: "sendonly", streams: [stream]});
        });
        pc.addEventListener("connectionstatechange", function () {
          if (!pc) return;
          if (pc.connectionState === "connected") status(msg("live"));
          if (pc.connectionState === "failed" || pc.connectionState === "disconnected") {
            error(msg("lost"));
          }
        });
        return pc.createOffer();
      })
      .then(function (offer) { return pc.setLocalDescription(offer); })
      .then(function () { return gathered(pc); })
      .then(function () {
        return fetch(root.getAttribute("data-whip-url"), {
          method: "POST",
          credentials: "same-origin",
          headers: {"Content-Type": "application/sdp", "Authorization": "Bearer " + key},
          body: pc.localDescription.sdp,
        });
      })
      .then(function (response) {
        return response.text().then(function (text) {
          if (response.status !== 201) throw new Error(text.trim() || String(response.status));
          var loc = response.headers.get("Location");
          location = loc ? new URL(loc, window.location.href).href : null;
          return pc.setRemoteDescription({type: "answer", sdp: text});
        });
      })
      .catch(function (e) {
        teardown();
        busy(false);
        status("");
        error(msg("failed") + " " + (e && e.message ? e.message : e));
      });
  }

  function stop() {
    // DELETE first, then close: closing first would end the session on the server before the DELETE.
    var target = location;
    location = null;
    stopButton.disabled = true;
    var done = function () {
      teardown();
      busy(false);
      status(msg("stopped"));
    };
    if (!target) { done(); return; }
    fetch(target, {method: "DELETE", credentials: "same-origin"}).then(done, done);
  }

  startButton.addEventListener("click", start);
  stopButton.addEventListener("click", stop);
  window.addEventListener("pagehide", function () {
    if (location) fetch(location, {method: "DELETE", credentials: "same-origin", keepalive: true});
  });
  // Show the camera at once where permission is already granted; errors wait for "Senden starten".
  getMedia().catch(function () {});
})();

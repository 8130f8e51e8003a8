// The counter's redeem page (vouchers/admin.py, admin/vouchers/redeem.html): scan the consumer's e-voucher QR code
// with this device's camera. Shown only where the browser has navigator.mediaDevices.getUserMedia (a secure
// context: HTTPS or localhost). The rear camera's picture is read by the browser's BarcodeDetector where it has
// one that reads QR codes, else by jsQR (vendor/jsQR.js). A QR code that holds a voucher code fills the code field
// and stops the camera; the staff member still presses Redeem, so the server judges it as a typed code. The QR
// holds the bare code (vouchers/api.py, portal/page.py: segno.make(code)); anything else is refused here.
(function () {
  "use strict";

  // vouchers/codes.py in JavaScript: Crockford base32, 16 data symbols and a mod-37 check symbol.
  var ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  var CHECK_ALPHABET = ALPHABET + "*~$=U";
  var DATA_LENGTH = 16;
  var PAUSE_MS = 150; // between two looks at the picture

  // What normalize() accepts, in the display form (XXXX-XXXX-XXXX-XXXX-C); null for any other text.
  function codeFrom(text) {
    if (typeof text !== "string" || text.length > 64) { return null; }
    var code = text.toUpperCase().replace(/[- \t\r\n_]/g, "").replace(/O/g, "0").replace(/[IL]/g, "1");
    if (code.length !== DATA_LENGTH + 1) { return null; }
    var value = 0;
    for (var i = 0; i < DATA_LENGTH; i++) {
      var symbol = ALPHABET.indexOf(code.charAt(i));
      if (symbol < 0) { return null; }
      value = (value * 32 + symbol) % 37;
    }
    if (CHECK_ALPHABET.charAt(value) !== code.charAt(DATA_LENGTH)) { return null; }
    return [code.slice(0, 4), code.slice(4, 8), code.slice(8, 12), code.slice(12, 16), code.charAt(16)].join("-");
  }

  // Why the camera did not start, as the key of one of the page's messages.
  function reason(error) {
    var name = error && error.name;
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") { return "denied"; }
    if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
      return "no-camera";
    }
    if (name === "NotReadableError" || name === "TrackStartError") { return "busy"; }
    return "failed";
  }

  // A function that reads the video's current picture: a promise of the texts of the QR codes in it.
  function jsqrReader(video) {
    if (typeof window.jsQR !== "function") { return null; }
    var canvas = document.createElement("canvas");
    var context = canvas.getContext("2d", { willReadFrequently: true });
    return function () {
      var width = video.videoWidth, height = video.videoHeight;
      if (!width || !height) { return Promise.resolve([]); }
      var scale = Math.min(1, 800 / Math.max(width, height)); // a large picture costs time and reads no better
      canvas.width = Math.round(width * scale);
      canvas.height = Math.round(height * scale);
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      var image = context.getImageData(0, 0, canvas.width, canvas.height);
      var found = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "attemptBoth" });
      return Promise.resolve(found ? [found.data] : []);
    };
  }

  function reader(video) {
    var Detector = window.BarcodeDetector;
    if (typeof Detector !== "function" || typeof Detector.getSupportedFormats !== "function") {
      return Promise.resolve(jsqrReader(video));
    }
    return Detector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("qr_code") < 0) { return jsqrReader(video); }
      var detector = new Detector({ formats: ["qr_code"] });
      var read = function () {
        return detector.detect(video).then(function (codes) {
          return codes.map(function (c) { return c.rawValue; });
        });
      };
      read.kind = "BarcodeDetector";
      return read;
    }, function () { return jsqrReader(video); });
  }

  function setUp(box) {
    var form = box.closest("form");
    var field = form && form.querySelector("input[name=code]");
    var start = box.querySelector("[data-scan-start]");
    var cancel = box.querySelector("[data-scan-cancel]");
    var video = box.querySelector("[data-scan-video]");
    var status = box.querySelector("[data-scan-status]");
    if (!field || !start || !cancel || !video || !status) { return; }
    var stream = null, timer = null, attempt = 0;
    box.hidden = false;

    function say(key, isError) {
      status.textContent = key ? box.getAttribute("data-msg-" + key) || "" : "";
      status.classList.toggle("wb-scan-error", Boolean(isError));
      box.setAttribute("data-scan-state", key || "idle");
    }
    function stop() {
      attempt += 1; // a camera that opens after this is closed at once
      if (timer !== null) { clearTimeout(timer); timer = null; }
      if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
      stream = null;
      video.srcObject = null;
      video.hidden = true;
      cancel.hidden = true;
      start.hidden = false;
      start.disabled = false;
    }
    function look(read, mine) {
      if (mine !== attempt) { return; }
      read().then(function (texts) {
        if (mine !== attempt) { return; }
        for (var i = 0; i < texts.length; i++) {
          var code = codeFrom(texts[i]);
          if (code) {
            field.value = code;
            stop();
            say("found");
            field.focus();
            return;
          }
        }
        if (texts.length) { say("not-voucher", true); }
        timer = setTimeout(function () { look(read, mine); }, PAUSE_MS);
      }, function () {
        if (mine === attempt) { timer = setTimeout(function () { look(read, mine); }, PAUSE_MS); }
      });
    }

    start.addEventListener("click", function () {
      stop();
      var mine = attempt;
      start.disabled = true;
      say("starting");
      navigator.mediaDevices.getUserMedia({ audio: false, video: { facingMode: { ideal: "environment" } } })
        .then(function (opened) {
          if (mine !== attempt) { opened.getTracks().forEach(function (track) { track.stop(); }); return null; }
          stream = opened;
          video.srcObject = opened;
          video.hidden = false;
          start.hidden = true;
          cancel.hidden = false;
          return video.play().then(function () { return reader(video); });
        })
        .then(function (read) {
          if (mine !== attempt) { return; }
          if (!read) { stop(); say("no-decoder", true); return; }
          box.setAttribute("data-decoder", read.kind || "jsQR");
          say("looking");
          look(read, mine);
        })
        .catch(function (error) {
          if (mine !== attempt) { return; }
          stop();
          say(reason(error), true);
        });
    });
    cancel.addEventListener("click", function () { stop(); say(""); start.focus(); });
    form.addEventListener("submit", stop);
    window.addEventListener("pagehide", stop);
  }

  window.voucherScan = { codeFrom: codeFrom }; // for the tests: the same rule the page uses
  document.addEventListener("DOMContentLoaded", function () {
    if (!navigator.mediaDevices || typeof navigator.mediaDevices.getUserMedia !== "function") { return; }
    Array.prototype.forEach.call(document.querySelectorAll("[data-scan]"), setUp);
  });
})();

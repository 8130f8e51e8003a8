// Approval forms that need a signature: show the drawing box (signature_pad), and on submit put the drawn
// PNG (a data URL) into the hidden "signature" field. Without JavaScript the box stays hidden and the server
// refuses the approval with why.
(function () {
  "use strict";
  function setUp(form) {
    var canvas = form.querySelector("canvas.signature");
    var field = form.querySelector("input[name=signature]");
    var clear = form.querySelector("[data-sign-clear]");
    var help = form.querySelector("[data-sign-help]");
    if (!canvas || !field || typeof window.SignaturePad !== "function") { return; }
    canvas.hidden = false;
    clear.hidden = false;
    // The drawing surface is the box's size on screen (sharp on high-density screens).
    var ratio = Math.max(window.devicePixelRatio || 1, 1);
    canvas.width = canvas.offsetWidth * ratio;
    canvas.height = canvas.offsetHeight * ratio;
    canvas.getContext("2d").scale(ratio, ratio);
    var pad = new window.SignaturePad(canvas, { backgroundColor: "rgb(255,255,255)" });
    clear.addEventListener("click", function () { pad.clear(); field.value = ""; });
    form.addEventListener("submit", function () {
      field.value = pad.isEmpty() ? "" : pad.toDataURL("image/png");
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("form.sign"), setUp);
  });
})();

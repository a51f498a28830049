// The checkout page's behaviour: copy button, countdown to expiry, live status from the server's event stream.
// Served from the page's own origin; the page carries no inline script (its CSP forbids one).
"use strict";
(function () {
  var root = document.getElementById("checkout");
  if (!root) { return; }
  var copy = document.getElementById("copy");
  if (copy) {
    copy.addEventListener("click", function () {
      var text = copy.getAttribute("data-copy") || "";
      var done = function () { copy.textContent = "Copied"; setTimeout(function () { copy.textContent = "Copy"; }, 2000); };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, function () {});
      } else {
        var range = document.createRange();
        range.selectNodeContents(document.getElementById("address"));
        var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
        try { document.execCommand("copy"); done(); } catch (e) { /* the address stays selected */ }
      }
    });
  }
  var countdown = document.getElementById("countdown");
  var expire = Date.parse(root.getAttribute("data-expire") || "");
  function tick() {
    if (!countdown || isNaN(expire)) { return; }
    var left = Math.max(0, Math.floor((expire - Date.now()) / 1000));
    var m = Math.floor(left / 60), s = left % 60;
    countdown.textContent = m + ":" + (s < 10 ? "0" : "") + s;
  }
  tick();
  setInterval(tick, 1000);
  function show(data) {
    root.setAttribute("data-state", data.state);
    root.setAttribute("data-final", data.final ? "true" : "false");
    document.getElementById("status-title").textContent = data.title;
    document.getElementById("status-detail").textContent = data.detail;
  }
  var url = root.getAttribute("data-events");
  if (url && window.EventSource) {
    var source = new EventSource(url);
    source.addEventListener("status", function (event) {
      try { show(JSON.parse(event.data)); } catch (e) { /* a malformed event changes nothing */ }
    });
  }
})();

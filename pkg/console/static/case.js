// The case page follows its case: the server sends one event per new case
// event (its version), and the page fetches its live part again. Focus is
// kept on the element that had it.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var id = live.getAttribute("data-case");
  var status = document.getElementById("live-status");
  var shown = function () {
    var el = live.querySelector("[data-version]");
    return el ? el.getAttribute("data-version") : "0";
  };
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch("/cases/" + id + "/live", { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) {
        var active = document.activeElement;
        var focusKey = active && live.contains(active) ? (active.id || active.textContent) : null;
        live.innerHTML = html;
        if (focusKey) {
          var again = document.getElementById(focusKey);
          if (!again) {
            live.querySelectorAll("button, a").forEach(function (el) { if (!again && el.textContent === focusKey) { again = el; } });
          }
          if (again) { again.focus(); }
        }
        status.textContent = "Updated: case version " + shown() + ".";
        document.dispatchEvent(new CustomEvent("case:updated"));
      })
      .catch(function () { status.textContent = "Could not refresh the case; it will try again with the next event."; })
      .finally(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  var es = new EventSource("/cases/" + id + "/events");
  es.addEventListener("case", function (e) {
    if (e.data !== shown()) { refresh(); }
  });
})();

// Live views of pack ui: the server sends fragments it rendered when something changed.
(function () {
  "use strict";
  var list = document.querySelector("[data-live-list]");
  if (list && window.EventSource) {
    var rows = new EventSource(list.getAttribute("data-live-list"));
    rows.addEventListener("rows", function (e) { list.innerHTML = e.data; });
  }
  var live = document.querySelector("[data-live-run]");
  if (live && window.EventSource) {
    var log = document.getElementById("log");
    var run = new EventSource(live.getAttribute("data-live-run"));
    var follow = function () { log.scrollTop = log.scrollHeight; };
    run.addEventListener("live", function (e) { live.innerHTML = e.data; });
    run.addEventListener("log", function (e) { log.textContent += e.data; follow(); });
    run.addEventListener("logreset", function (e) { log.textContent = e.data; follow(); });
    run.addEventListener("done", function () {
      run.close();
      // A deck is written when the task ends: show it.
      if (live.getAttribute("data-deck") === "1") { window.location.reload(); }
    });
  }
})();

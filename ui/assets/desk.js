// pouch desk: the inbox, live. The desk renders the list on the server;
// this script only swaps it in when the desk sends a new one. Without it,
// reloading the page shows the same.
"use strict";
(function () {
  var box = document.getElementById("inbox");
  if (!box || !window.EventSource) return;
  var live = document.getElementById("live");
  var es = new EventSource("/events?as=" + encodeURIComponent(box.dataset.as));
  var first = true;
  es.addEventListener("inbox", function (ev) {
    var tpl = document.createElement("template");
    tpl.innerHTML = ev.data;
    box.replaceChildren(tpl.content);
    if (live) live.textContent = first ? "Following the inbox live." : "The inbox changed at " + new Date().toLocaleTimeString() + ".";
    first = false;
    document.body.dataset.inboxUpdates = String((Number(document.body.dataset.inboxUpdates) || 0) + 1);
  });
  es.addEventListener("failed", function (ev) {
    if (live) live.textContent = "The live inbox stopped: " + ev.data + " (reload the page).";
  });
})();

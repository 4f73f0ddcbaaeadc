/* envport console: copy buttons, and the deployment page's live view (polls a small JSON endpoint
   and swaps in the fragments the server rendered; no framework, no reload). */
(function () {
  "use strict";

  function copy(text, button) {
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
      return;
    }
    var area = document.createElement("textarea");  // plain http: the old way
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    done();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (button) { event.preventDefault(); copy(button.dataset.copy, button); }
  });

  var live;

  function poll() {
    fetch(live.dataset.liveUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (state) {
        Object.keys(state.html).forEach(function (id) {
          var node = document.getElementById(id);
          if (node) node.innerHTML = state.html[id];
        });
        live.dataset.status = state.status;
        if (state.finished) {
          live.dataset.finished = "true";
          document.title = state.status + " · " + document.title;
        } else {
          setTimeout(poll, 1000);
        }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  document.addEventListener("DOMContentLoaded", function () {  // the script loads in <head>
    live = document.getElementById("ep-live");
    if (live && live.dataset.finished !== "true") setTimeout(poll, 1000);
  });
})();

// A filing's exports, kept up to date in place while one is queued or running: every 3 seconds
// the page is fetched again (same origin, the reader's own session) and only its
// #export-progress part replaces this one's, so nothing typed in the new-export form (an age
// public key) is lost, as it was when the whole page reloaded. It stops once no export is
// queued or running, or when the page cannot be had (signed out, gone). Without scripts the
// page still reloads itself (a meta refresh inside <noscript>).
(function () {
  "use strict";
  var EVERY_MS = 3000;
  var ID = "export-progress";

  function active(region) {
    return Boolean(region) && region.dataset.active === "yes";
  }

  function reveal(region) {
    var hints = region.querySelectorAll("[data-scripted]");
    Array.prototype.forEach.call(hints, function (hint) {
      hint.hidden = false;
    });
  }

  function later(delay) {
    window.setTimeout(poll, delay);
  }

  function poll() {
    fetch(window.location.href, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "text/html" },
      redirect: "manual", // to the sign-in page: an opaque answer, not ok: stop
    }).then(function (response) {
      if (!response.ok) {
        return null; // signed out, no longer allowed, gone: stop
      }
      return response.text().then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(ID);
        var current = document.getElementById(ID);
        if (!fresh || !current) {
          return;
        }
        fresh = document.importNode(fresh, true);
        current.replaceWith(fresh);
        if (active(fresh)) {
          reveal(fresh);
          later(EVERY_MS);
        }
      });
    }).catch(function () {
      later(EVERY_MS * 2); // the network, for a moment: try again, more slowly
    });
  }

  var region = document.getElementById(ID);
  if (active(region)) {
    reveal(region);
    later(EVERY_MS);
  }
})();

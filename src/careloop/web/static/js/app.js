/* CareLoop progressive enhancement: every page works without this file.
   - "/" focuses the global patient search
   - idle time-out warning, then the sign-in page when the server has ended the session
   - live patient search: results update without a full reload */
(function () {
  "use strict";

  function isTyping(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    var search = document.getElementById("global-search");
    if (!search) return;
    event.preventDefault();
    search.focus();
    search.select();
  });

  /* Idle time-out: the server ends a session after data-idle-seconds without a request. */
  var idle = {
    limit: Number(document.body.getAttribute("data-idle-seconds")) || 0,
    warnTimer: null, endTimer: null, tick: null,
    panel: document.getElementById("idle-warning"),
    reset: function () {
      if (!idle.limit || !idle.panel) return;
      clearTimeout(idle.warnTimer); clearTimeout(idle.endTimer); clearInterval(idle.tick);
      idle.panel.hidden = true;
      var warnAfter = Math.max(idle.limit - 60, Math.floor(idle.limit * 0.8));
      idle.warnTimer = setTimeout(idle.warn, warnAfter * 1000);
      idle.endTimer = setTimeout(idle.end, idle.limit * 1000);
      idle.deadline = Date.now() + idle.limit * 1000;
    },
    warn: function () {
      var countdown = idle.panel.querySelector("[data-idle-countdown]");
      idle.panel.hidden = false;
      idle.panel.querySelector("[data-idle-stay]").focus();
      idle.tick = setInterval(function () {
        countdown.textContent = String(Math.max(0, Math.round((idle.deadline - Date.now()) / 1000)));
      }, 1000);
    },
    end: function () {
      var here = window.location.pathname + window.location.search;
      window.location.assign("/login?expired=1&next=" + encodeURIComponent(here));
    },
    stay: function () {
      fetch("/session/ping", { credentials: "same-origin" }).then(function (response) {
        if (response.ok && !response.redirected) idle.reset(); else idle.end();
      }, idle.end);
    }
  };
  if (idle.panel) {
    idle.panel.querySelector("[data-idle-stay]").addEventListener("click", idle.stay);
    idle.reset();
  }

  /* Live search: a form with data-live-search="<fragment url>" updates #results as the user types. */
  var form = document.querySelector("form[data-live-search]");
  if (form) {
    var results = document.getElementById("results");
    var timer = null, inflight = null;
    var refresh = function () {
      var data = new FormData(form);
      if (inflight) inflight.abort();
      inflight = new AbortController();
      results.setAttribute("aria-busy", "true");
      /* posted, not put in the address: names, MRNs and birth dates must not reach URLs or history */
      fetch(form.getAttribute("data-live-search"),
            { method: "POST", body: new URLSearchParams(data), credentials: "same-origin",
              signal: inflight.signal })
        .then(function (response) {
          if (response.redirected || response.status === 401) { idle.end(); return null; }
          return response.text();
        })
        .then(function (html) {
          if (html === null) return;
          results.innerHTML = html;  /* server-rendered and escaped */
          results.setAttribute("aria-busy", "false");
          var kept = new URLSearchParams();  /* only the filters that identify no one */
          ["scope", "coordinator", "status", "risk_tier", "sort"].forEach(function (key) {
            var value = data.get(key);
            if (value) kept.set(key, value);
          });
          var query = kept.toString();
          window.history.replaceState(null, "", form.getAttribute("action") + (query ? "?" + query : ""));
          idle.reset();
        })
        .catch(function (error) {
          if (error.name !== "AbortError") results.setAttribute("aria-busy", "false");
        });
    };
    form.addEventListener("input", function (event) {
      if (event.target.tagName === "SELECT") return;
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    });
    form.addEventListener("change", function (event) {
      if (event.target.tagName === "SELECT") refresh();
    });
  }
})();

// Live status pages: a websocket says "changed", the page fetches its live region again.
// Plain JavaScript, no framework. Without JavaScript the pages still render (reload to refresh).
(function () {
  "use strict";

  var region = document.getElementById("live-region");
  var indicator = document.getElementById("live-indicator");
  var topic = region && region.dataset.liveTopic;
  var MIN_REFRESH_MS = 400;  // at most ~2 refreshes a second, however fast changes arrive

  function setState(state, label) {
    if (!indicator) return;
    indicator.dataset.state = state;
    indicator.querySelector(".label").textContent = label;
  }

  // --- relative times -----------------------------------------------------------------------
  function describe(seconds) {
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + "s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + "m " + (s % 60) + "s";
    var h = Math.floor(m / 60);
    if (h < 48) return h + "h " + (m % 60) + "m";
    return Math.floor(h / 24) + "d " + (h % 24) + "h";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-relative]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      var delta = (now - at) / 1000;
      el.textContent = delta >= 0 ? describe(delta) + " ago" : "in " + describe(-delta);
    });
    document.querySelectorAll("time[data-uptime]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(at)) el.textContent = describe((now - at) / 1000);
    });
  }
  setInterval(tick, 1000);
  tick();

  // --- copy buttons -------------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy");
    if (!button) return;
    var text = button.dataset.copy;
    function done() {
      button.classList.add("copied");
      button.textContent = "Copied";
      setTimeout(function () { button.classList.remove("copied"); button.textContent = "Copy"; }, 1500);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else {
      fallbackCopy(text);
      done();
    }
  });
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more we can do */ }
    document.body.removeChild(area);
  }

  if (!region || !topic || !window.WebSocket) return;

  // --- refreshing the live region -----------------------------------------------------------
  var fetching = false, again = false, lastRefresh = 0, timer = null;

  function fragmentUrl() {
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    return url.toString();
  }
  function refresh() {
    if (fetching) { again = true; return; }
    var wait = lastRefresh + MIN_REFRESH_MS - Date.now();
    if (wait > 0) {
      if (!timer) timer = setTimeout(function () { timer = null; refresh(); }, wait);
      return;
    }
    fetching = true;
    lastRefresh = Date.now();
    fetch(fragmentUrl(), { credentials: "same-origin", headers: { "Accept": "text/html" }, cache: "no-store" })
      .then(function (response) {
        if (response.redirected || response.status === 403) { window.location.reload(); return null; }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (html === null) return;
        region.innerHTML = html;
        region.dataset.refreshedAt = String(Date.now());
        tick();
        document.dispatchEvent(new CustomEvent("status:refreshed"));
      })
      .catch(function () { again = true; })
      .then(function () {
        fetching = false;
        if (again) { again = false; refresh(); }
      });
  }

  // --- the websocket ------------------------------------------------------------------------
  var backoff = 500, socket = null, pinger = null;

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + "/ws/status/?topic=" + encodeURIComponent(topic));
    socket.onopen = function () {
      backoff = 500;
      setState("live", "live");
      pinger = setInterval(function () {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
      }, 25000);
    };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      // "hello" too: something may have changed between the page render and the connection.
      if (message.type === "changed" || message.type === "hello") refresh();
    };
    socket.onclose = function (event) {
      clearInterval(pinger);
      if (event.code === 4403) { setState("offline", "not live (sign in again)"); return; }
      setState("reconnecting", "reconnecting…");
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }
  connect();
})();

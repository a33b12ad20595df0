// Irene's console: small progressive enhancement. Every page works without it.
// Keyboard: j / k move through a list's rows, Enter opens the row, / goes to the search box.
// Live refresh: a page whose <body> has data-live="SECONDS" re-reads its <main> that often
// while the tab is visible and nothing on the page is being typed into or selected.
(function () {
  "use strict";
  var current = -1;

  function rows() {
    return Array.prototype.filter.call(
      document.querySelectorAll("main table tbody tr"),
      function (tr) { return tr.querySelector("a[href]"); }
    );
  }

  function mark(i) {
    var list = rows();
    if (list.length === 0) { return; }
    current = Math.max(0, Math.min(i, list.length - 1));
    list.forEach(function (tr, j) { tr.classList.toggle("kb-current", j === current); });
    list[current].scrollIntoView({ block: "nearest" });
  }

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) { return; }
    if (e.key === "j") { mark(current + 1); e.preventDefault(); }
    else if (e.key === "k") { mark(current < 0 ? 0 : current - 1); e.preventDefault(); }
    else if (e.key === "Enter" && current >= 0) {
      var row = rows()[current];
      var link = row && row.querySelector("a[href]");
      if (link) { window.location.assign(link.href); e.preventDefault(); }
    } else if (e.key === "/") {
      var wanted = ["form.filters input[type=search]", "form.filters input:not([type=hidden])",
        "main input:not([type=hidden])"];
      for (var i = 0; i < wanted.length; i++) {
        var box = document.querySelector(wanted[i]);
        if (box) { box.focus(); e.preventDefault(); break; }
      }
    }
  });

  function busy() {
    if (document.visibilityState !== "visible") { return true; }
    if (typing(document.activeElement)) { return true; }
    if (document.querySelector("main input[type=checkbox]:checked, main details[open]")) { return true; }
    return false;
  }

  function refresh() {
    if (busy()) { return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (text === null || busy()) { return; }
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.querySelector("main");
        var old = document.querySelector("main");
        if (fresh && old) {
          old.replaceWith(document.adoptNode(fresh));
          if (current >= 0) { mark(current); }
          document.body.setAttribute("data-refreshed", String(Date.now()));
        }
      })
      .catch(function () { /* offline or signed out: the next tick tries again */ });
  }

  var every = parseInt(document.body.getAttribute("data-live") || "", 10);
  if (every > 0) { window.setInterval(refresh, every * 1000); }
})();

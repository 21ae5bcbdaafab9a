// The pages' few behaviours, without inline scripts (the Content-Security-Policy forbids them):
// filters that apply on change, the upload form's checks, the live status, sortable tables.
(function () {
  "use strict";
  // The menu on a phone: folded behind its button (without this script it stays open).
  var header = document.querySelector("header.top");
  var toggle = document.querySelector(".menu-toggle");
  if (header && toggle) {
    header.classList.add("js");
    toggle.addEventListener("click", function () {
      var open = header.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }
  // A box that scrolls sideways (a wide table or chart on a phone) takes the keyboard's focus,
  // so it can be scrolled without a mouse.
  var scrollable = function () {
    document.querySelectorAll("table.grid, .chart-box, pre.output").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) box.setAttribute("tabindex", "0");
      else if (box.getAttribute("tabindex") === "0") box.removeAttribute("tabindex");
    });
  };
  scrollable();
  window.addEventListener("resize", scrollable);

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // Times: the server writes each as <time datetime="…Z">, in UTC; here it reads in the reader's
  // zone, in the pages' one format (views.TIME_FORMAT) with the zone's short name in the reader's
  // language, and keeps UTC in its title (on hover). A reader in UTC keeps the server's text.
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  var inUtc = /^(Etc\/)?(UTC|UCT|Universal|Zulu)$/.test(zone);
  var localFormat = new Intl.DateTimeFormat(undefined, {year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", numberingSystem: "latn", timeZoneName: "short"});
  var localText = function (date) {
    var p = {};
    localFormat.formatToParts(date).forEach(function (part) { p[part.type] = part.value; });
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + " " + p.timeZoneName;
  };
  var zoneNote = document.getElementById("time-zone");
  if (zoneNote) {
    zoneNote.textContent = inUtc ? "Times are in UTC." : "Times are in " + zone + " (" +
      localText(new Date()).split(" ").slice(2).join(" ") + "); hover a time for UTC.";
    zoneNote.hidden = false;
  }
  if (!inUtc) {
    document.querySelectorAll("time[datetime]").forEach(function (time) {
      var date = new Date(time.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      if (!time.title) time.title = time.textContent;
      time.textContent = localText(date);
    });
    // A datetime-local field the server reads as UTC: its time in the reader's zone beside it.
    document.querySelectorAll("input[data-utc-field]").forEach(function (field) {
      var hint = field.parentNode.querySelector(".local-time");
      if (!hint) return;
      var show = function () {
        var date = field.value ? new Date(field.value + "Z") : null;
        hint.textContent = date && !isNaN(date.getTime()) ? "= " + localText(date) : "";
      };
      field.addEventListener("input", show);
      show();
    });
  }

  // Upload: say what is wrong with the file before it is sent (the server checks again).
  var input = document.querySelector("input[type=file][data-max-bytes]");
  if (input) {
    var problem = document.getElementById("file-problem");
    var check = function () {
      var file = input.files && input.files[0];
      var message = "";
      if (file) {
        var max = parseInt(input.dataset.maxBytes, 10);
        if (!/\.(ipynb|py)$/i.test(file.name)) message = file.name + " is not a notebook (.ipynb) or a Python module (.py).";
        else if (file.size > max) message = file.name + " is over the " + input.dataset.maxSize + " limit.";  // the server's words
      }
      input.setCustomValidity(message);
      problem.textContent = message;
      return !message;
    };
    input.addEventListener("change", check);
    input.form.addEventListener("submit", function (event) { if (!check()) event.preventDefault(); });
  }

  // A form sent once: its button is disabled as it is sent, so a double click sends one request
  // (the server also answers a repeat of the same file with the first submission). A page shown
  // again from the back-forward cache gets its button back.
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    var button = form.querySelector("button[type=submit]");
    var label = button ? button.textContent : "";
    form.addEventListener("submit", function (event) {
      if (event.defaultPrevented) return;                 // the file check refused it: nothing sent
      if (form.dataset.sent === "true") { event.preventDefault(); return; }
      form.dataset.sent = "true";
      if (button) { button.disabled = true; button.textContent = "Sending\u2026"; }
    });
    window.addEventListener("pageshow", function () {
      form.dataset.sent = "";
      if (button) { button.disabled = false; button.textContent = label; }
    });
  });

  // The quick tests' results while the training tests run: the rows of _test_rows.html, built
  // from status.json with textContent only (every string the worker stored is the student's or
  // the suite's text, never markup); backticks become <code> as the server's spans() makes them.
  var points = function (value) {
    return value === null || value === undefined ? "\u2014" : value.toFixed(2).replace(/0+$/, "").replace(/\.$/, "");
  };
  var el = function (tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  var spans = function (parent, text) {
    var parts = (text || "").split("`");
    if (parts.length % 2 === 0) { parent.appendChild(document.createTextNode(text)); return parent; }
    parts.forEach(function (part, i) {
      parent.appendChild(i % 2 ? el("code", "", part) : document.createTextNode(part));
    });
    return parent;
  };
  var liveTestRow = function (t) {
    var row = el("tr", t.status);
    var name = el("td");
    name.appendChild(el("strong", "", t.description || t.name));
    if (t.bonus) { name.appendChild(document.createTextNode(" ")); name.appendChild(el("small", "pill bonus", "bonus")); }
    if (t.hidden) { name.appendChild(document.createTextNode(" ")); name.appendChild(el("small", "pill", "hidden test")); }
    name.appendChild(el("br"));
    name.appendChild(el("small", "muted")).appendChild(el("code", "", t.name));
    row.appendChild(name);
    row.appendChild(el("td")).appendChild(el("span", "pill " + t.status, t.status));
    row.appendChild(el("td", "", (t.status === "pending" ? "?" : points(t.points)) + " / " + points(t.max_points)));
    var said = el("td");
    if (t.status === "pending") said.appendChild(el("span", "muted", "result shown " + t.pending));
    else {
      if (t.message) spans(said.appendChild(el("pre", "message")), t.message);
      else if (t.status !== "passed") said.appendChild(el("span", "muted", "details hidden for this test"));
      (t.note || "").split("\n").forEach(function (line) {
        if (!line) return;
        var note = said.appendChild(el("p", "note"));
        note.appendChild(el("span", "note-label", "Note:"));
        spans(note, " " + line);
      });
    }
    row.appendChild(said);
    return row;
  };
  var showQuick = function (tests, concealed) {
    var section = document.getElementById("quick-results");
    var rows = document.getElementById("quick-rows");
    if (!section || !rows) return;
    rows.textContent = "";
    tests.forEach(function (t) { rows.appendChild(liveTestRow(t)); });
    var hidden = document.getElementById("quick-concealed");
    if (hidden) {
      hidden.textContent = concealed ? concealed + (concealed === 1 ? " quick test is" : " quick tests are") + " not shown." : "";
      hidden.hidden = !concealed;
    }
    section.hidden = false;
    scrollable();
  };

  // Live status: poll the JSON endpoint until the submission is final, then reload the page once.
  var box = document.getElementById("status");
  if (box && box.dataset.final !== "true") {
    var words = {received: "received", queued: "waiting in the queue", running: "being graded",
                 graded: "graded", failed: "could not be graded", error: "grader problem"};
    var poll = function () {
      fetch(box.dataset.url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (s) {
          if (s.final) { window.location.reload(); return; }
          var word = document.getElementById("status-word");
          word.textContent = words[s.status] || s.status;
          word.className = "pill " + s.status;
          var detail = "";
          var bar = document.getElementById("status-bar");
          var quick = s.status === "running" && s.progress && s.progress.quick ? s.progress.quick : null;
          if (s.queue_position) detail = "position " + s.queue_position + " in the queue";
          else if (s.status === "running" && s.progress && s.progress.total && s.progress.index) {
            detail = (s.progress.training_running ? "quick tests done, training tests running (test "
                      + s.progress.index + " of " + s.progress.total + ")"
                      : "running test " + s.progress.index + " of " + s.progress.total);
            if (bar) { bar.max = s.progress.total; bar.value = s.progress.index; }
          } else if (s.status === "running") detail = "starting your code";
          document.getElementById("status-detail").textContent = detail;
          var estimate = document.getElementById("status-estimate");
          if (estimate) estimate.textContent = s.estimate ? "\u00b7 " + s.estimate : "";
          if (quick) showQuick(quick, s.progress.quick_concealed || 0);
          setTimeout(poll, parseInt(box.dataset.pollMs, 10) || 1000);
        })
        .catch(function () { setTimeout(poll, 5000); });
    };
    setTimeout(poll, parseInt(box.dataset.pollMs, 10) || 1000);
  }

  // A regrade in progress: reload its report every two seconds until nothing is left to grade.
  var regrade = document.getElementById("regrade-progress");
  if (regrade && parseInt(regrade.dataset.active, 10) > 0) setTimeout(function () { window.location.reload(); }, 2000);

  // Sortable tables: each sortable header holds a button (a keyboard reaches it, Enter and Space
  // press it); the th says the order in aria-sort. Numbers sort by data-value. The class "js"
  // shows the buttons' arrows: without this script they read as the headers' plain text.
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.classList.add("js");
    table.querySelectorAll("th[data-sort]").forEach(function (th) {
      var button = th.querySelector("button.sort");
      if (!button) return;
      button.addEventListener("click", function () {
        var index = th.cellIndex;
        var numeric = th.dataset.sort === "number";
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var key = function (row) {
          var cell = row.cells[index];
          return numeric ? parseFloat(cell.dataset.value || cell.textContent) || 0 : cell.textContent.trim().toLowerCase();
        };
        rows.sort(function (a, b) { var x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1); });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();

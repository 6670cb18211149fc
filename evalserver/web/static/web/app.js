/* The pages' small behaviours. Every page works without this file; with it, times are
   shown in the viewer's zone, deadlines count down, statuses update themselves and
   uploads show their progress. Loaded as a file (no inline script) for the CSP. */
(function () {
  "use strict";

  var DONE = { finished: true, failed: true, cancelled: true };

  function localTimes() {
    var nodes = document.querySelectorAll("[data-local-time]");
    for (var i = 0; i < nodes.length; i++) {
      var when = new Date(nodes[i].getAttribute("data-local-time"));
      if (isNaN(when.getTime())) continue;
      var zone = "";
      try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
      nodes[i].textContent = "your time: " + when.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
      }) + (zone ? " (" + zone + ")" : "");
    }
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function countdowns() {
    var nodes = document.querySelectorAll("[data-countdown]");
    if (!nodes.length) return;
    function tick() {
      var now = Date.now();
      for (var i = 0; i < nodes.length; i++) {
        var end = new Date(nodes[i].getAttribute("data-countdown")).getTime();
        var left = Math.floor((end - now) / 1000);
        if (isNaN(left)) continue;
        if (left <= 0) {
          nodes[i].textContent = nodes[i].getAttribute("data-countdown-over") || "Deadline passed";
          continue;
        }
        var d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600);
        var m = Math.floor(left % 3600 / 60), s = left % 60;
        nodes[i].textContent = (d ? d + " d " : "") + pad(h) + ":" + pad(m) + ":" + pad(s) + " left";
      }
    }
    tick();
    window.setInterval(tick, 1000);
  }

  function setBadge(node, status, label) {
    node.textContent = label || status;
    node.className = "badge status-" + status;
    node.setAttribute("data-status", status);
  }

  /* Polls a cheap JSON endpoint while a submission is queued or running; slows down
     gradually so a forgotten tab costs the server little. */
  function pollStatus(node) {
    var url = node.getAttribute("data-status-url");
    var delay = 1000;
    function again() {
      delay = Math.min(delay * 1.5, 15000);
      window.setTimeout(check, delay);
    }
    function check() {
      var xhr = new XMLHttpRequest();
      xhr.open("GET", url);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.onload = function () {
        if (xhr.status !== 200) { again(); return; }
        var data;
        try { data = JSON.parse(xhr.responseText); } catch (e) { again(); return; }
        var before = node.getAttribute("data-status");
        setBadge(node, data.status, data.status_label);
        if (DONE[data.status]) {
          if (node.hasAttribute("data-reload-when-done") && before !== data.status) {
            window.location.reload();
          }
          var score = document.querySelector("[data-score-for='" + node.getAttribute("data-submission") + "']");
          if (score && data.primary_score !== null && data.primary_score !== undefined) {
            score.textContent = Number(data.primary_score).toFixed(4);
          }
          return;
        }
        again();
      };
      xhr.onerror = again;
      xhr.send();
    }
    window.setTimeout(check, delay);
  }

  function statuses() {
    var nodes = document.querySelectorAll("[data-status-url]");
    for (var i = 0; i < nodes.length; i++) {
      if (!DONE[nodes[i].getAttribute("data-status")]) pollStatus(nodes[i]);
    }
  }

  function humanBytes(n) {
    var units = ["bytes", "KB", "MB", "GB"], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + units[i];
  }

  function showCheck(box, data) {
    var head = document.createElement("p");
    var strong = document.createElement("strong");
    if (data.valid) {
      head.setAttribute("data-check-valid", "");
      strong.textContent = "Valid:";
      head.appendChild(strong);
      head.appendChild(document.createTextNode(" this file would be scored (" + data.n_items + " clips). Nothing was stored and no submission was used."));
      box.appendChild(head);
    } else {
      head.setAttribute("data-check-invalid", "");
      strong.textContent = "Not valid:";
      head.appendChild(strong);
      head.appendChild(document.createTextNode(" an upload of this file would fail with:"));
      box.appendChild(head);
      var list = document.createElement("ul");
      list.className = "errorlist";
      (data.errors || []).forEach(function (message) {
        var item = document.createElement("li");
        item.textContent = message;
        list.appendChild(item);
      });
      box.appendChild(list);
    }
    box.hidden = false;
    box.focus();
  }

  function uploadForm(form) {
    var input = form.querySelector("input[type=file]");
    var zone = form.querySelector(".dropzone");
    var chosen = form.querySelector("[data-chosen-file]");
    var progressBox = form.querySelector(".upload-progress");
    var bar = progressBox ? progressBox.querySelector("progress") : null;
    var progressText = progressBox ? progressBox.querySelector("[data-progress-text]") : null;
    var button = form.querySelector("button[type=submit]");
    var max = parseInt(input.getAttribute("data-max-bytes"), 10);

    function errorBox(name) { return form.querySelector("[data-error-for='" + name + "']"); }

    function clearErrors() {
      var boxes = form.querySelectorAll("[data-error-for]");
      for (var i = 0; i < boxes.length; i++) { boxes[i].textContent = ""; }
      var fields = form.querySelectorAll(".field.has-error");
      for (var j = 0; j < fields.length; j++) { fields[j].classList.remove("has-error"); }
    }

    function showErrors(errors) {
      for (var name in errors) {
        if (!Object.prototype.hasOwnProperty.call(errors, name)) continue;
        var box = errorBox(name) || errorBox("__all__");
        if (!box) continue;
        box.textContent = errors[name].join(" ");
        var field = box.closest(".field");
        if (field) field.classList.add("has-error");
      }
      var first = form.querySelector("[data-error-for]:not(:empty)");
      if (first) first.focus();
    }

    function checkFile() {
      clearErrors();
      var file = input.files && input.files[0];
      if (chosen) chosen.textContent = file ? file.name + " (" + humanBytes(file.size) + ")" : "";
      if (file && max && file.size > max) {
        showErrors({ file: ["The file is " + humanBytes(file.size) + "; this phase accepts at most " + humanBytes(max) + "."] });
        return false;
      }
      return true;
    }

    input.addEventListener("change", checkFile);

    if (zone) {
      ["dragenter", "dragover"].forEach(function (type) {
        zone.addEventListener(type, function (event) {
          event.preventDefault();
          zone.classList.add("dragover");
        });
      });
      ["dragleave", "drop"].forEach(function (type) {
        zone.addEventListener(type, function (event) {
          event.preventDefault();
          zone.classList.remove("dragover");
        });
      });
      zone.addEventListener("drop", function (event) {
        if (event.dataTransfer && event.dataTransfer.files.length) {
          input.files = event.dataTransfer.files;
          checkFile();
        }
      });
    }

    form.addEventListener("submit", function (event) {
      if (!window.FormData || !window.XMLHttpRequest) return;
      event.preventDefault();
      if (!checkFile()) return;
      // "Check only" posts to its own URL and answers {valid, errors, n_items}.
      var checking = !!(event.submitter && event.submitter.hasAttribute("data-check"));
      var resultBox = form.querySelector("[data-check-result]");
      if (resultBox) { resultBox.hidden = true; resultBox.textContent = ""; }
      var xhr = new XMLHttpRequest();
      xhr.open("POST", checking ? event.submitter.getAttribute("formaction") : form.action);
      xhr.setRequestHeader("Accept", "application/json");
      if (bar) { bar.value = 0; progressBox.hidden = false; }
      if (button) button.disabled = true;
      xhr.upload.onprogress = function (e) {
        if (!bar || !e.lengthComputable) return;
        bar.max = e.total;
        bar.value = e.loaded;
        if (progressText) progressText.textContent = Math.round(100 * e.loaded / e.total) + "% sent";
      };
      xhr.onload = function () {
        if (button) button.disabled = false;
        var data = {};
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = {}; }
        if (checking && xhr.status === 200 && resultBox) {
          if (progressBox) progressBox.hidden = true;
          showCheck(resultBox, data);
          return;
        }
        if (xhr.status >= 200 && xhr.status < 300 && data.url) {
          if (progressText) progressText.textContent = "Uploaded. Opening the submission…";
          window.location.assign(data.url);
          return;
        }
        if (progressBox) progressBox.hidden = true;
        showErrors(data.errors || { __all__: [data.detail || "The upload failed (HTTP " + xhr.status + ")."] });
      };
      xhr.onerror = function () {
        if (button) button.disabled = false;
        if (progressBox) progressBox.hidden = true;
        showErrors({ __all__: ["The connection was lost during the upload. Please try again."] });
      };
      xhr.send(new FormData(form));
    });
  }

  function confirmations() {
    var forms = document.querySelectorAll("form[data-confirm]");
    for (var i = 0; i < forms.length; i++) {
      forms[i].addEventListener("submit", function (event) {
        if (!window.confirm(this.getAttribute("data-confirm"))) event.preventDefault();
      });
    }
  }

  function start() {
    localTimes();
    countdowns();
    statuses();
    confirmations();
    var forms = document.querySelectorAll("form[data-upload]");
    for (var i = 0; i < forms.length; i++) uploadForm(forms[i]);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

// batchupdate web: drop zone, live progress, status filters. The pages work without it, only less smoothly.
(function () {
  "use strict";

  function sizeText(bytes) {
    if (bytes >= 1024 * 1024) return (bytes / (1024 * 1024)).toFixed(1) + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " bytes";
  }

  // Step 1: choose or drop a file; refuse a wrong type or an oversize file before it is sent.
  function setUpUpload(form) {
    var input = form.querySelector("input[type=file]");
    var zone = form.querySelector(".dropzone");
    var chosen = document.getElementById("chosen");
    var problem = document.getElementById("upload-problem");
    var button = document.getElementById("check-button");
    var maxBytes = Number(form.dataset.maxBytes);

    function refuse(message) {
      problem.textContent = message;
      problem.hidden = false;
    }

    function show() {
      var file = input.files && input.files[0];
      chosen.textContent = file ? file.name + " · " + sizeText(file.size) : "";
      zone.classList.toggle("has-file", Boolean(file));
      problem.hidden = true;
    }

    input.addEventListener("change", show);
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () {
        zone.classList.remove("dragging");
      });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        show();
      }
    });
    form.addEventListener("submit", function (event) {
      var file = input.files && input.files[0];
      if (!file) {
        event.preventDefault();
        return refuse("Choose a CSV or Excel (.xlsx) file first.");
      }
      if (!/\.(csv|xlsx)$/i.test(file.name)) {
        event.preventDefault();
        return refuse(file.name + " is not a .csv or .xlsx file. Save it from Excel as .xlsx or CSV UTF-8.");
      }
      if (file.size > maxBytes) {
        event.preventDefault();
        return refuse(
          "That file is " + sizeText(file.size) + ", over the " + sizeText(maxBytes) +
          " limit. Split the sheet into smaller ones, then upload again."
        );
      }
      button.disabled = true;
      button.textContent = "Checking…";
    });
  }

  // Plan and apply: poll the job's status until it is done, then show the finished page. The page knows which
  // server start drew it; a different one in an answer means the server was restarted meanwhile.
  function followProgress(bar) {
    var text = document.getElementById("progress-text");
    var count = document.getElementById("progress-count");
    var counts = document.getElementById("progress-counts");
    var note = document.getElementById("progress-note");
    var restarted = document.getElementById("restarted");
    var server = document.body.dataset.server;
    var lastSpoken = -1;

    function drawCounts(numbers) {
      var order = ["valid", "updated", "would-update", "unchanged", "invalid", "failed", "skipped"];
      counts.replaceChildren();
      Object.keys(numbers)
        .sort(function (a, b) { return order.indexOf(a) - order.indexOf(b); })
        .forEach(function (status) {
          var chip = document.createElement("span");
          var number = document.createElement("b");
          chip.className = "chip st-" + status;
          chip.dataset.status = status;
          number.textContent = String(numbers[status]);
          chip.append(number, " " + status);
          counts.append(chip);
        });
    }

    function sayRestarted() {
      restarted.replaceChildren();
      var link = document.createElement("a");
      link.href = bar.dataset.jobUrl;
      link.id = "restarted-link";
      link.textContent = "Open this job again";
      restarted.append("The server was restarted since this page was opened, so this job was interrupted. ", link,
        " to see what was done and resume it.");
      restarted.hidden = false;
      note.textContent = "Interrupted by a restart of the server.";
    }

    function poll() {
      fetch(bar.dataset.statusUrl, { headers: { accept: "application/json" }, cache: "no-store" })
        .then(function (response) {
          return response.json().then(function (status) { return { ok: response.ok, status: status }; });
        })
        .then(function (answer) {
          var status = answer.status;
          if (status.server && status.server !== server) return sayRestarted();
          if (!answer.ok) throw new Error("no such job");
          if (status.total) {
            bar.max = status.total;
            bar.value = status.done;
          }
          text.textContent = status.percent + "%";
          // Only whole tens reach the live region's text, so a screen reader is not flooded.
          var tens = Math.floor(status.percent / 10);
          if (tens !== lastSpoken || status.state !== "running") {
            lastSpoken = tens;
            count.textContent = status.done + " of " + (status.total || 0) + " rows";
            drawCounts(status.counts || {});
          }
          if (status.state !== "running") {
            window.location.reload();
            return;
          }
          note.textContent = "You can close this page: the run goes on, and this address shows it again.";
          window.setTimeout(poll, 500);
        })
        .catch(function () {
          note.textContent = "Lost touch with the server; trying again…";
          window.setTimeout(poll, 2000);
        });
    }

    window.setTimeout(poll, 300);
  }

  var form = document.getElementById("upload-form");
  if (form) setUpUpload(form);
  var bar = document.getElementById("progress");
  if (bar && bar.dataset.state === "running") followProgress(bar);
})();

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

  // Plan and apply: poll the run's status until it is done, then show the finished page.
  function followProgress(bar) {
    var text = document.getElementById("progress-text");
    var count = document.getElementById("progress-count");
    var counts = document.getElementById("progress-counts");
    var note = document.getElementById("progress-note");

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

    function poll() {
      fetch(bar.dataset.statusUrl, { headers: { accept: "application/json" }, cache: "no-store" })
        .then(function (response) {
          if (!response.ok) throw new Error("status " + response.status);
          return response.json();
        })
        .then(function (status) {
          if (status.total) {
            bar.max = status.total;
            bar.value = status.done;
          }
          text.textContent = status.percent + "%";
          count.textContent = status.done + " of " + (status.total || 0) + " rows";
          drawCounts(status.counts || {});
          if (status.state !== "running") {
            bar.dataset.state = status.state;
            window.location.reload();
            return;
          }
          window.setTimeout(poll, 500);
        })
        .catch(function () {
          note.textContent = "Lost touch with the server; trying again…";
          window.setTimeout(poll, 2000);
        });
    }

    window.setTimeout(poll, 300);
  }

  // Results: show only the rows of one status, without reloading.
  function setUpFilters(nav) {
    var rows = document.querySelectorAll("table.rows tbody tr[data-status]");
    nav.addEventListener("click", function (event) {
      var chip = event.target.closest("a[data-filter]");
      if (!chip) return;
      event.preventDefault();
      var wanted = chip.dataset.filter;
      nav.querySelectorAll("a[data-filter]").forEach(function (other) {
        other.classList.toggle("active", other === chip);
      });
      rows.forEach(function (row) {
        row.hidden = Boolean(wanted) && row.dataset.status !== wanted;
      });
      window.history.replaceState(null, "", wanted ? "?status=" + encodeURIComponent(wanted) : window.location.pathname);
    });
  }

  var form = document.getElementById("upload-form");
  if (form) setUpUpload(form);
  var bar = document.getElementById("progress");
  if (bar && bar.dataset.state === "running") followProgress(bar);
  var filters = document.querySelector("nav.filters");
  if (filters) setUpFilters(filters);
})();

// Progressive enhancement only: every action also works as a plain form or link without this file.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // POST JSON to our own API with the page's CSRF token (the session cookie rides along).
  function postJSON(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify(body || {})
    });
  }
  window.kb = {postJSON: postJSON, csrf: csrf};

  // Strip control characters so a pasted passage cannot smuggle terminal escapes (checklist W-23).
  function clean(text) { return (text || "").replace(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g, ""); }

  function flashButton(button, label) {
    var old = button.textContent;
    button.textContent = label;
    button.classList.add("done");
    setTimeout(function () { button.textContent = old; button.classList.remove("done"); }, 1500);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) { return navigator.clipboard.writeText(text); }
    var area = document.createElement("textarea");
    area.value = text; area.setAttribute("readonly", ""); area.style.position = "fixed"; area.style.opacity = "0";
    document.body.appendChild(area); area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-text],[data-copy-target]");
    if (!button) { return; }
    event.preventDefault();
    var text = button.dataset.copyText;
    if (text === undefined) {
      var target = document.getElementById(button.dataset.copyTarget);
      text = target ? target.textContent : "";
    }
    copyText(clean(text)).then(function () {
      flashButton(button, "Copied");
      if (button.dataset.event) {  // record the copy as usage; never block or break the copy itself
        postJSON(button.dataset.event, JSON.parse(button.dataset.eventBody || "{}")).catch(function () {});
      }
    });
  });

  // A click on a result link is usage: report it in the background and let the browser navigate at once.
  // fetch with keepalive outlives the page it was sent from and, unlike sendBeacon, carries the CSRF header.
  function reportClick(event) {
    var link = event.target.closest("a[data-event]");
    if (!link || (event.type === "auxclick" && event.button !== 1)) { return; }  // middle click opens a tab too
    try {
      fetch(link.dataset.event, {
        method: "POST", credentials: "same-origin", keepalive: true,
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
        body: link.dataset.eventBody || "{}"
      }).catch(function () {});
    } catch (error) { /* bookkeeping must never break the link */ }
  }
  document.addEventListener("click", reportClick);
  document.addEventListener("auxclick", reportClick);

  // Inline status edits in the backlog: the status pill becomes a select that saves on change (PATCH to
  // the API with the page's CSRF token); a refused change (e.g. new -> published) reverts and says why.
  function inlineStatus(cell, statuses) {
    var select = document.createElement("select");
    select.className = "inline-status";
    select.setAttribute("aria-label", cell.dataset.label || "Status");
    statuses.forEach(function (status) {
      var option = document.createElement("option");
      option.value = status; option.textContent = status.replace(/_/g, " ");
      option.selected = status === cell.dataset.status;
      select.appendChild(option);
    });
    var message = document.createElement("span");
    message.className = "inline-message small"; message.setAttribute("role", "status");
    select.addEventListener("change", function () {
      var wanted = select.value;
      select.disabled = true;
      fetch(cell.dataset.inlineStatus, {
        method: "PATCH", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
        body: JSON.stringify({status: wanted})
      }).then(function (response) {
        return response.json().then(function (body) { return {ok: response.ok, body: body}; });
      }).then(function (result) {
        if (result.ok) {
          cell.dataset.status = wanted; message.textContent = "Saved"; message.className = "inline-message small ok";
        } else {
          select.value = cell.dataset.status;
          message.textContent = (result.body.error || {}).message || "Not saved";
          message.className = "inline-message small error";
        }
      }).catch(function () {
        select.value = cell.dataset.status; message.textContent = "Not saved"; message.className = "inline-message small error";
      }).then(function () { select.disabled = false; });
    });
    cell.textContent = "";
    cell.appendChild(select);
    cell.appendChild(message);
  }
  document.querySelectorAll("table[data-statuses]").forEach(function (table) {
    var statuses = JSON.parse(table.dataset.statuses);
    table.querySelectorAll("[data-inline-status]").forEach(function (cell) { inlineStatus(cell, statuses); });
  });

  // Forms marked data-async submit in the background and show the result inline (the page still works without).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-async]")) { return; }
    event.preventDefault();
    var data = new FormData(form);
    fetch(form.action, {method: "POST", body: data, credentials: "same-origin",
                        headers: {"X-CSRFToken": csrf, "Accept": "application/json"}})
      .then(function (response) {
        var button = form.querySelector("button[type=submit]");
        if (button) { flashButton(button, response.ok ? (form.dataset.done || "Saved") : "Failed"); }
      });
  });
})();

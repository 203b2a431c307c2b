// Live calls: a WebSocket sends the list of calls ringing or in progress whenever it changes.
(function () {
  "use strict";
  const body = document.querySelector("#live-calls tbody");
  const state = document.getElementById("live-state");
  let calls = [];
  let retry = 1000;

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    return td;
  }

  function elapsed(call) {
    const since = Date.parse(call.answered_at || call.started_at);
    if (!since) return "";
    const s = Math.max(0, Math.floor((Date.now() - since) / 1000));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  // The call's last transcript lines, under its row (all of them are on the call's page).
  function linesRow(call) {
    const tr = document.createElement("tr");
    tr.className = "live-lines";
    tr.dataset.lines = call.id;
    const td = document.createElement("td");
    td.colSpan = 8;
    const lines = call.lines || [];
    if (!lines.length) {
      td.className = "empty";
      td.textContent = call.status === "ringing" ? "Ringing…" : "Nothing said yet.";
    }
    for (const line of lines) {
      const p = document.createElement("p");
      p.className = "line line-" + line.speaker;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = line.label;
      p.append(who, document.createTextNode(" " + line.text));
      td.appendChild(p);
    }
    tr.appendChild(td);
    return tr;
  }

  function render() {
    body.replaceChildren();
    if (!calls.length) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = cell("No calls right now.");
      td.colSpan = 8;
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    for (const call of calls) {
      const tr = document.createElement("tr");
      tr.dataset.call = call.id;
      tr.dataset.status = call.status;
      const started = document.createElement("td");
      const link = document.createElement("a");
      link.href = "/calls/" + call.id + "/";
      // Labels and the time as the server formats them everywhere (calls/display.py), not raw codes.
      link.textContent = call.started_display;
      started.appendChild(link);
      tr.append(started, cell(call.direction_label), cell(call.carrier_label), cell(call.from_number),
                cell(call.to_number), cell(call.agent || "—"), cell(call.status_label),
                cell(elapsed(call)));
      body.appendChild(tr);
      body.appendChild(linesRow(call));
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/ws/live/");
    ws.onopen = function () { state.textContent = "live"; state.className = "state on"; retry = 1000; };
    ws.onmessage = function (event) {
      const message = JSON.parse(event.data);
      if (message.type === "live_calls") { calls = message.calls; render(); }
    };
    ws.onclose = function () {
      state.textContent = "reconnecting…"; state.className = "state off";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }

  setInterval(function () { if (calls.length) render(); }, 1000);
  connect();
})();

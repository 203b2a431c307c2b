// A call in progress: append transcript lines as they are saved, and show the stored call when it ends.
(function () {
  "use strict";
  const list = document.getElementById("transcript");
  if (!list || !list.dataset.live) return;
  let after = Number(list.dataset.after);
  const stamp = (ms) => {
    const s = Math.floor(ms / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  };
  const add = (seg) => {
    const item = document.createElement("li");
    item.className = `turn turn-${seg.speaker}`;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = seg.label;
    const time = document.createElement("time");
    time.textContent = stamp(seg.start_ms);
    const text = document.createElement("p");
    text.textContent = seg.text;
    item.append(who, time, text);
    list.append(item);
  };
  async function poll() {
    try {
      const response = await fetch(`${list.dataset.live}?after=${after}`, { credentials: "same-origin" });
      if (response.ok) {
        const body = await response.json();
        for (const seg of body.segments) {
          add(seg);
          after = Math.max(after, seg.seq);
        }
        if (body.status !== "in_progress") {
          window.location.reload(); // the stored page: recording, metrics, tools
          return;
        }
      }
    } catch (err) {
      // the server is restarting or the network blinked: try again on the next tick
    }
    setTimeout(poll, 1500);
  }
  setTimeout(poll, 1500);
})();

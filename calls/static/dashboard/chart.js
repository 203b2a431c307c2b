// Calls per day as a stacked SVG bar chart (answered / not answered). No libraries.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("per-day-data").textContent);
  const svg = document.getElementById("calls-per-day");
  const NS = "http://www.w3.org/2000/svg";
  const W = 760, H = 240, left = 40, bottom = 28, top = 10;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  // Integer ticks at a "nice" step (1, 2, 5 x 10^k), at most about five of them; the axis tops at a tick.
  const most = Math.max(1, ...data.map(function (d) { return d.total; }));
  const tickStep = (function () {
    const rough = most / 4;
    const power = Math.pow(10, Math.floor(Math.log10(Math.max(1, rough))));
    for (const m of [1, 2, 5, 10]) { if (m * power >= rough) return Math.max(1, m * power); }
    return 10 * power;
  })();
  const max = Math.ceil(most / tickStep) * tickStep;
  const plotH = H - bottom - top;
  const step = (W - left) / data.length;
  const bar = Math.max(2, step * 0.7);

  function el(name, attrs, text, parent) {
    const node = document.createElementNS(NS, name);
    for (const key in attrs) node.setAttribute(key, attrs[key]);
    if (text != null) node.textContent = text;
    (parent || svg).appendChild(node);
    return node;
  }

  for (let tick = 0; tick <= max; tick += tickStep) {
    const y = top + plotH * (1 - tick / max);
    el("line", { x1: left, x2: W, y1: y, y2: y, class: "grid" });
    el("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "axis", "data-tick": tick }, tick);
  }
  data.forEach(function (d, i) {
    const x = left + i * step + (step - bar) / 2;
    const hAll = plotH * d.total / max;
    const hAns = plotH * d.answered / max;
    const title = d.day + ": " + d.total + " calls, " + d.answered + " answered";
    const other = el("rect", { x: x, y: top + plotH - hAll, width: bar, height: hAll - hAns, class: "bar other" });
    el("title", {}, title, other);
    const answered = el("rect", { x: x, y: top + plotH - hAns, width: bar, height: hAns, class: "bar answered",
                                  "data-day": d.day, "data-total": d.total });
    el("title", {}, title, answered);
    if (data.length <= 31 && (data.length <= 14 || i % 2 === 0)) {
      el("text", { x: x + bar / 2, y: H - 10, "text-anchor": "middle", class: "axis" }, d.day.slice(5));
    }
  });
})();

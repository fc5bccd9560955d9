// Draws one uPlot chart per series of the page's JSON: x is the run number, y the run's
// value; change points are vertical lines (red: worse, green: better) where the new level
// starts. Axis ticks name runs by revision (or run id).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("perflab-history").textContent);

  function unit(metric, value) {
    if (value == null) return "";
    if (metric === "throughput") return value.toFixed(1) + "/s";
    if (metric === "errors") return (100 * value).toFixed(2) + "%";
    const ms = value / 1000;
    return ms >= 100 ? ms.toFixed(0) + " ms" : ms >= 10 ? ms.toFixed(1) + " ms" : ms.toFixed(2) + " ms";
  }

  function changeLines(changes) {
    return {
      hooks: {
        draw: [
          (u) => {
            const ctx = u.ctx;
            ctx.save();
            ctx.lineWidth = 2 * devicePixelRatio;
            for (const change of changes) {
              const x = u.valToPos(change.index + 0.5, "x", true);
              ctx.strokeStyle = change.worse ? "#cf222e" : "#1a7f37";
              ctx.beginPath();
              ctx.moveTo(x, u.bbox.top);
              ctx.lineTo(x, u.bbox.top + u.bbox.height);
              ctx.stroke();
            }
            ctx.restore();
          },
        ],
      },
    };
  }

  for (const item of data) {
    const slot = document.getElementById(item.id);
    if (!slot) continue;
    const title = document.createElement("h3");
    title.textContent = item.title;
    slot.appendChild(title);
    const xs = item.values.map((_, i) => i);
    const options = {
      width: 560,
      height: 220,
      plugins: [changeLines(item.changes)],
      scales: {
        x: { time: false },
        // A flat series (an error rate of 0 throughout) gets a small range, not uPlot's
        // default of +-100x around a single value.
        y: { range: (u, min, max) => (max > min ? [min - 0.05 * (max - min), max + 0.05 * (max - min)]
          : [min - Math.max(Math.abs(min) * 0.05, 0.01), max + Math.max(Math.abs(max) * 0.05, 0.01)]) },
      },
      axes: [
        { values: (u, ticks) => ticks.map((t) => (Number.isInteger(t) ? item.runs[t] || "" : "")) },
        { values: (u, ticks) => ticks.map((t) => unit(item.metric, t)), size: 70 },
      ],
      series: [
        { label: "run", value: (u, i) => (i == null ? "" : `${item.runs[i]} (${item.dates[i]})`) },
        { label: item.metric, stroke: "#0969da", width: 2, points: { show: true },
          value: (u, v) => unit(item.metric, v) },
      ],
    };
    new uPlot(options, [xs, item.values], slot);
    if (item.changes.length) {
      const list = document.createElement("ul");
      for (const change of item.changes) {
        const entry = document.createElement("li");
        entry.className = change.worse ? "worse" : "better";
        entry.textContent = change.text;
        list.appendChild(entry);
      }
      slot.appendChild(list);
    }
  }
})();

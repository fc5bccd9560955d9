/* perflab report: draws every chart slot from the inlined JSON with the vendored uPlot.
   Each chart is drawn on its own: a chart whose data is missing says so in its slot, and an
   unexpected failure is logged (console.error) without stopping the other charts. */
(function () {
  "use strict";

  var PALETTE = ["#d1242f", "#1a7f37", "#0969da", "#9a6700", "#8250df", "#bf3989", "#1b7c83",
    "#6e7781"];
  var MEASURED = "#0969da";
  var REFERENCE = "#afb8c1";
  var SLO = "#cf222e";
  var NINES = [Math.log10(2), 1, 2, 3, 4];
  var NINES_LABELS = ["p50", "p90", "p99", "p99.9", "p99.99"];
  var drawn = [];
  window.perflabCharts = drawn; // what was drawn, for people debugging the page and for tests

  function readData() {
    var element = document.getElementById("perflab-data");
    return element ? JSON.parse(element.textContent) : { studies: [] };
  }

  function colorOf(study, cell) {
    var index = study.cells.indexOf(cell);
    return PALETTE[(index < 0 ? 0 : index) % PALETTE.length];
  }

  function fmtMs(value) {
    if (value == null) return "";
    if (value === 0) return "0";
    if (value < 1) return (+value.toPrecision(2)) + " ms";
    if (value < 1000) return (+value.toPrecision(3)) + " ms";
    return (+(value / 1000).toPrecision(3)) + " s";
  }

  function fmtNum(value) {
    if (value == null) return "";
    var size = Math.abs(value);
    if (size >= 1000) return Math.round(value).toLocaleString("en");
    if (size >= 10) return (+value.toFixed(1)).toString();
    return (+value.toFixed(2)).toString();
  }

  function hasValues(list) {
    return Array.isArray(list) && list.some(function (v) { return v != null; });
  }

  function slotWidth(slot) {
    return Math.max(300, Math.floor(slot.getBoundingClientRect().width) || 600);
  }

  function showEmpty(slot, why) {
    slot.classList.add("empty");
    slot.textContent = why;
  }

  function zeroBased(u, min, max) {
    return [0, max > 0 ? max * 1.1 : 1];
  }

  function line(label, color, extra) {
    var series = { label: label, stroke: color, width: 2, spanGaps: true, points: { show: false } };
    Object.keys(extra || {}).forEach(function (key) { series[key] = extra[key]; });
    return series;
  }

  function sloSeries(study, length) {
    if (study.slo_p99_ms == null) return null;
    var values = [];
    for (var i = 0; i < length; i++) values.push(study.slo_p99_ms);
    return { series: line("SLO p99 " + fmtMs(study.slo_p99_ms), SLO, { width: 1.5, dash: [6, 4] }),
      values: values };
  }

  // The study's main request, when the throughput and spectrum count it alone.
  function ofRequests(study) {
    return study.figures_of ? ", " + study.figures_of + " requests" : "";
  }

  function throughputChart(study, slot) {
    var data = study.charts.throughput;
    if (!data || !hasValues(data.measured.concat(data.reference))) {
      return showEmpty(slot, "No throughput to chart.");
    }
    var xs = data.labels.map(function (_, i) { return i; });
    var bars = function (align) {
      return uPlot.paths.bars({ size: [0.36, 56], align: align });
    };
    return {
      opts: {
        title: "Throughput (ok answers/s) beside the seed's published figure" + ofRequests(study),
        height: 280,
        legend: { live: false },
        scales: {
          x: { time: false, range: function () { return [-0.5, xs.length - 0.5]; } },
          y: { range: zeroBased },
        },
        axes: [
          { splits: function () { return xs; }, grid: { show: false },
            values: function (u, splits) {
              return splits.map(function (i) {
                var label = data.labels[i] == null ? "" : String(data.labels[i]);
                return label.length > 18 ? label.slice(0, 17) + "…" : label;
              });
            } },
          { label: "req/s", values: function (u, v) { return v.map(fmtNum); } },
        ],
        series: [
          { label: "cell", value: function (u, i) { return i == null ? "" : data.labels[i]; } },
          { label: "measured here", fill: MEASURED, stroke: MEASURED, paths: bars(-1),
            points: { show: false }, value: function (u, v) { return fmtNum(v); } },
          { label: "seed published", fill: REFERENCE, stroke: REFERENCE, paths: bars(1),
            points: { show: false }, value: function (u, v) { return fmtNum(v); } },
        ],
      },
      data: [xs, data.measured, data.reference],
    };
  }

  function spectrumChart(study, slot) {
    var data = study.charts.spectrum;
    var present = (data.series || []).filter(function (s) { return hasValues(s.values); });
    if (!present.length) return showEmpty(slot, "No latency histogram to chart.");
    var series = [{ label: "percentile", value: function (u, x) { return nineLabel(x); } }];
    var columns = [data.nines];
    present.forEach(function (s) {
      series.push(line(s.name, colorOf(study, s.name), { value: function (u, v) { return fmtMs(v); } }));
      columns.push(s.values);
    });
    var slo = sloSeries(study, data.nines.length);
    if (slo) { series.push(slo.series); columns.push(slo.values); }
    return {
      opts: {
        title: "Latency percentile spectrum (log scales)" + ofRequests(study),
        height: 280,
        scales: { x: { time: false, range: [NINES[0], NINES[NINES.length - 1]] },
          y: { distr: 3 } },
        axes: [
          { splits: function () { return NINES; },
            values: function (u, splits) { return splits.map(nineLabel); } },
          { label: "latency", size: 64,
            values: function (u, v) { return v.map(fmtMs); } },
        ],
        series: series,
      },
      data: columns,
    };
  }

  function nineLabel(x) {
    if (x == null) return "";
    var at = NINES.indexOf(x);
    if (at >= 0) return NINES_LABELS[at];
    return "p" + (+(100 * (1 - Math.pow(10, -x))).toPrecision(4));
  }

  // Faults on the shared time axis: a shaded span from the fault to the part's return and a
  // dashed line at the fault, in the colour of the cell it happened in, with its name.
  function faultMarks(study, marks) {
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          var top = u.bbox.top, height = u.bbox.height;
          var dpr = window.devicePixelRatio || 1;
          ctx.save();
          ctx.textAlign = "left";
          ctx.textBaseline = "top";
          marks.forEach(function (mark, i) {
            var x0 = u.valToPos(mark.at_s, "x", true);
            var x1 = u.valToPos(mark.back_at_s, "x", true);
            var color = colorOf(study, mark.cell);
            ctx.globalAlpha = 0.12;
            ctx.fillStyle = color;
            ctx.fillRect(x0, top, Math.max(x1 - x0, 2), height);
            ctx.globalAlpha = 0.9;
            ctx.strokeStyle = color;
            ctx.setLineDash([4, 3]);
            ctx.beginPath();
            ctx.moveTo(x0, top);
            ctx.lineTo(x0, top + height);
            ctx.stroke();
            ctx.fillStyle = color;
            ctx.font = Math.round(10 * dpr) + "px sans-serif";
            // Faults at the same time (one per cell) stack their names instead of overlapping.
            ctx.fillText(mark.name, x0 + 4 * dpr, top + (2 + 11 * i) * dpr);
          });
          ctx.restore();
        }],
      },
    };
  }

  function timelineChart(study, slot, chartId, index) {
    var timeline = study.charts.timeline;
    var chart = (timeline.charts || []).filter(function (c) { return c.id === chartId; })[0];
    if (!chart) return showEmpty(slot, "No data for this chart.");
    var present = chart.series.filter(function (s) { return hasValues(s.values); });
    if (!present.length) return showEmpty(slot, chart.title + ": no samples.");
    var format = chart.unit === "ms" ? fmtMs : fmtNum;
    var few = timeline.t_s.length < 40;
    var series = [{ label: "s", value: function (u, v) { return v == null ? "" : v + " s"; } }];
    var columns = [timeline.t_s];
    present.forEach(function (s) {
      series.push(line(s.name, colorOf(study, s.cell), {
        width: s.dash ? 1.25 : 2,
        dash: s.dash ? [5, 4] : undefined,
        points: { show: few, size: 4 },
        value: function (u, v) { return format(v); },
      }));
      columns.push(s.values);
    });
    return {
      opts: {
        title: chart.title + " (" + chart.unit + ")",
        height: 170,
        cursor: { sync: { key: "perflab-study-" + index } },
        scales: { x: { time: false }, y: chart.log ? { distr: 3 } : { range: zeroBased } },
        axes: [
          { incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600],
            values: function (u, v) { return v.map(function (s) { return s + " s"; }); } },
          { size: 64, values: function (u, v) { return v.map(format); } },
        ],
        series: series,
        plugins: (timeline.marks || []).length ? [faultMarks(study, timeline.marks)] : [],
      },
      data: columns,
    };
  }

  function kneeChart(study, slot) {
    var data = study.charts.knee;
    if (!data || !data.series || !data.series.length) return showEmpty(slot, "No knee search.");
    var series = [{ label: "served req/s", value: function (u, v) { return fmtNum(v); } }];
    var columns = [data.throughput_per_s];
    data.series.forEach(function (s) {
      series.push(line(s.name, colorOf(study, s.name), {
        points: { show: true, size: 6 }, value: function (u, v) { return fmtMs(v); } }));
      columns.push(s.values);
    });
    var slo = sloSeries(study, data.throughput_per_s.length);
    if (slo) { series.push(slo.series); columns.push(slo.values); }
    return {
      opts: {
        title: "Knee: throughput against p99 as the offered rate rises",
        height: 260,
        scales: { x: { time: false }, y: { distr: 3 } },
        axes: [
          { label: "served req/s", values: function (u, v) { return v.map(fmtNum); } },
          { label: "p99", size: 64, values: function (u, v) { return v.map(fmtMs); } },
        ],
        series: series,
      },
      data: columns,
    };
  }

  function draw(studies, slot) {
    var index = Number(slot.getAttribute("data-study"));
    var chartId = slot.getAttribute("data-chart") || "";
    var study = studies[index];
    if (!study || !study.charts) return showEmpty(slot, "Nothing measured.");
    var spec;
    if (chartId === "throughput") spec = throughputChart(study, slot);
    else if (chartId === "spectrum") spec = spectrumChart(study, slot);
    else if (chartId === "knee") spec = kneeChart(study, slot);
    else if (chartId.indexOf("timeline:") === 0) {
      spec = timelineChart(study, slot, chartId.slice("timeline:".length), index);
    } else return showEmpty(slot, "Unknown chart " + chartId + ".");
    if (!spec) return;
    spec.opts.width = slotWidth(slot);
    drawn.push({ slot: slot, chart: chartId, plot: new uPlot(spec.opts, spec.data, slot) });
  }

  function drawAll() {
    var studies = readData().studies || [];
    var slots = document.querySelectorAll(".chart[data-study]");
    Array.prototype.forEach.call(slots, function (slot) {
      try {
        draw(studies, slot);
      } catch (error) {
        console.error("perflab report: chart " + slot.getAttribute("data-chart") + ": " + error);
        showEmpty(slot, "This chart could not be drawn.");
      }
    });
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      drawn.forEach(function (item) {
        item.plot.setSize({ width: slotWidth(item.slot), height: item.plot.height });
      });
    }, 150);
  });

  if (typeof uPlot === "undefined") {
    console.error("perflab report: the vendored uPlot script is missing");
  } else {
    drawAll();
  }
})();

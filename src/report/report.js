// pushpull's report: draws the charts described in <script id="charts"> as inline SVG.
// Hover a chart for the values under the pointer; click a legend entry to hide or show a system.
// No library, no network: this file is embedded in report.html as it is.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var W = 960, H = 400, M = { left: 78, right: 18, top: 34, bottom: 52 };
  var LABEL_ROWS = 5, ROW = 13;
  // Which labels get a row first when there are more than rows: losses, faults, rebalances, landmarks.
  var PRIORITY = { loss: 0, fault: 1, rebalance: 2, landmark: 3 };
  function dashOf(d) { return d === true ? "7 5" : (d || ""); }
  var BAND = { fault: "rgba(120,60,170,0.16)", rebalance: "rgba(0,130,120,0.22)" };
  var BAND_TEXT = { fault: "#5f288c", rebalance: "#00645c" };
  var MARK = { landmark: "#5f5f5f", loss: "#aa1428", tick: "#966e50" };

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]); }
    if (parent) parent.appendChild(e);
    return e;
  }
  function text(parent, x, y, s, attrs) {
    var t = el("text", attrs || {}, parent);
    t.setAttribute("x", x); t.setAttribute("y", y); t.textContent = s;
    return t;
  }
  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return "n/a";
    var a = Math.abs(v);
    if (a >= 1000) return Math.round(v).toLocaleString("en-US");
    if (a >= 10) return (Math.round(v * 10) / 10).toString();
    if (a >= 1 || a === 0) return (Math.round(v * 1000) / 1000).toString();
    return v.toPrecision(3);
  }
  // Ticks for a linear axis from 0 (or lo) to hi: 1, 2 or 5 times a power of ten.
  function linTicks(lo, hi) {
    var span = hi - lo; if (!(span > 0)) span = 1;
    var raw = span / 6, p = Math.pow(10, Math.floor(Math.log10(raw))), step = p;
    [1, 2, 5, 10].some(function (m) { step = m * p; return m * p >= raw; });
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
    return out;
  }
  function logTicks(lo, hi) {
    var out = [];
    for (var e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(Math.pow(10, e));
    return out;
  }

  function draw(root, spec, id) {
    var box = document.createElement("figure");
    box.id = id;
    box.className = "chart";
    root.appendChild(box);
    var h = document.createElement("figcaption");
    h.innerHTML = "";
    var title = document.createElement("strong"); title.textContent = spec.title; h.appendChild(title);
    if (spec.subtitle) { var sub = document.createElement("span"); sub.textContent = " " + spec.subtitle; h.appendChild(sub); }
    box.appendChild(h);
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": spec.title }, box);
    var legend = document.createElement("div"); legend.className = "legend"; box.appendChild(legend);
    var hidden = {};
    var state = { spec: spec, svg: svg, hidden: hidden };
    function render() {
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      if (spec.kind === "bars") drawBars(state); else drawLines(state);
    }
    // Legend: one entry per series; a click toggles every series of that system.
    var seen = {};
    spec.series.forEach(function (s) {
      var key = s.system || s.name;
      var item = document.createElement("button");
      item.type = "button"; item.className = "key"; item.setAttribute("data-key", key);
      var sw = document.createElement("span");
      sw.className = "swatch" + (s.dash === true || s.dash === "7 5" ? " dashed" : s.dash ? " dotted" : "");
      sw.style.borderColor = s.color;
      if (spec.kind === "bars") { sw.className = "swatch bar"; sw.style.background = s.color; }
      item.appendChild(sw); item.appendChild(document.createTextNode(s.name));
      item.title = s.system ? "click to hide or show " + s.system : "click to hide or show";
      item.addEventListener("click", function () {
        hidden[key] = !hidden[key];
        legend.querySelectorAll("button").forEach(function (b) {
          b.classList.toggle("off", !!hidden[b.getAttribute("data-key")]);
        });
        render();
      });
      legend.appendChild(item);
      seen[key] = true;
    });
    (spec.extra_legend || []).forEach(function (x) {
      var item = document.createElement("span"); item.className = "key static";
      var sw = document.createElement("span"); sw.className = "swatch " + x.kind; item.appendChild(sw);
      item.appendChild(document.createTextNode(x.label)); legend.appendChild(item);
    });
    render();
  }

  function countLabels(spec) {
    return (spec.bands || []).filter(function (b) { return b.label; }).length +
      (spec.markers || []).filter(function (m) { return m.label && m.kind !== "tick"; }).length;
  }

  function visible(state) {
    return state.spec.series.filter(function (s) { return !state.hidden[s.system || s.name]; });
  }

  function frame(svg, spec, xs, ys, xTickList, yTickList, xLabelOf, yLabelOf) {
    var g = el("g", { "class": "axes" }, svg);
    yTickList.forEach(function (v) {
      var y = ys(v);
      el("line", { x1: M.left, x2: W - M.right, y1: y, y2: y, "class": "grid" }, g);
      text(g, M.left - 6, y + 4, yLabelOf(v), { "text-anchor": "end", "class": "tick" });
    });
    xTickList.forEach(function (t) {
      var x = xs(t[0]);
      el("line", { x1: x, x2: x, y1: H - M.bottom, y2: H - M.bottom + 5, "class": "axis" }, g);
      String(xLabelOf(t)).split("\n").forEach(function (part, i) {
        text(g, x, H - M.bottom + 18 + 14 * i, part, { "text-anchor": "middle", "class": "tick" });
      });
    });
    el("line", { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom, "class": "axis" }, g);
    el("line", { x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom, "class": "axis" }, g);
    text(g, (M.left + W - M.right) / 2, H - 10, spec.x_label, { "text-anchor": "middle", "class": "label" });
    var yl = text(g, 0, 0, spec.y_label, { "text-anchor": "middle", "class": "label" });
    yl.setAttribute("transform", "translate(16," + ((M.top + H - M.bottom) / 2) + ") rotate(-90)");
  }

  function drawLines(state) {
    var spec = state.spec, svg = state.svg, shown = visible(state);
    var all = [];
    spec.series.forEach(function (s) { s.points.forEach(function (p) { all.push(p); }); });
    var xlo = spec.x_min !== undefined ? spec.x_min : Math.min.apply(null, all.map(function (p) { return p[0]; }));
    var xhi = spec.x_max !== undefined ? spec.x_max : Math.max.apply(null, all.map(function (p) { return p[0]; }));
    if (!(xhi > xlo)) { xlo -= 1; xhi += 1; }
    if (spec.x_ticks) { var pad = (xhi - xlo) * 0.04; xlo -= pad; xhi += pad; }
    var ysAll = all.map(function (p) { return p[1]; }).filter(function (v) { return v !== null && isFinite(v); });
    var ylo, yhi, ys, yTickList;
    var x0 = M.left, x1 = W - M.right, y0 = H - M.bottom, y1 = M.top + 8 + ROW * Math.min(LABEL_ROWS, countLabels(spec));
    var xs = function (x) { return x0 + (x - xlo) / (xhi - xlo) * (x1 - x0); };
    if (spec.y_log) {
      var pos = ysAll.filter(function (v) { return v > 0; });
      ylo = pos.length ? Math.pow(10, Math.floor(Math.log10(Math.min.apply(null, pos)))) : 0.1;
      yhi = pos.length ? Math.pow(10, Math.ceil(Math.log10(Math.max.apply(null, pos)))) : 1;
      if (yhi <= ylo) yhi = ylo * 10;
      ys = function (v) { return v > 0 ? y0 - (Math.log10(v) - Math.log10(ylo)) / (Math.log10(yhi) - Math.log10(ylo)) * (y0 - y1) : y0; };
      yTickList = logTicks(ylo, yhi);
    } else {
      ylo = 0; yhi = Math.max.apply(null, ysAll.concat([0])) * 1.12;
      if (!(yhi > 0)) yhi = 1;
      ys = function (v) { return y0 - (v - ylo) / (yhi - ylo) * (y0 - y1); };
      yTickList = linTicks(ylo, yhi).filter(function (v) { return v <= yhi; });
    }
    var xTickList = spec.x_ticks || linTicks(xlo, xhi).filter(function (v) { return v >= xlo && v <= xhi; }).map(function (v) { return [v, fmt(v)]; });
    // Bands (faults, rebalances) and markers under the lines; their labels above the plot, in
    // rows so that they do not overlap (a label with no room left is in the hover text only).
    var under = el("g", {}, svg);
    var labels = [];
    (spec.bands || []).forEach(function (b) {
      var a = xs(b.from), z = Math.max(xs(b.to), a + 2);
      var r = el("rect", { x: a, y: y1 - 8, width: z - a, height: y0 - y1 + 8, fill: BAND[b.kind] || BAND.fault }, under);
      el("title", {}, r).textContent = b.label;
      if (b.label) labels.push({ x: a, text: b.label, fill: BAND_TEXT[b.kind] || BAND_TEXT.fault, rank: PRIORITY[b.kind] });
    });
    (spec.markers || []).forEach(function (m) {
      var x = xs(m.x);
      var line = el("line", { x1: x, x2: x, y1: y1 - 8, y2: y0, stroke: MARK[m.kind] || MARK.landmark, "stroke-dasharray": m.kind === "loss" ? "" : "5 4", "stroke-width": m.kind === "loss" ? 2 : 1 }, under);
      el("title", {}, line).textContent = m.label;
      if (m.label && m.kind !== "tick") labels.push({ x: x, text: m.label, fill: MARK[m.kind] || MARK.landmark, rank: PRIORITY[m.kind] });
    });
    var ends = [];
    labels.map(function (l, i) { l.order = i; return l; }).sort(function (a, b) {
      return (a.rank - b.rank) || (a.order - b.order);
    }).forEach(function (l) {
      var width = 6.3 * l.text.length, left = l.x + 3, anchor = "start";
      if (left + width > W - 2) { left = l.x - 3 - width; anchor = "end"; }
      for (var row = 0; row < LABEL_ROWS; row++) {
        if (ends[row] === undefined || ends[row] < left) {
          ends[row] = left + width + 6;
          text(under, anchor === "start" ? l.x + 3 : l.x - 3, y1 - 12 - ROW * row, l.text, { "class": "band-label", fill: l.fill, "text-anchor": anchor });
          el("line", { x1: l.x, x2: l.x, y1: y1 - 8, y2: y1 - 10 - ROW * row, stroke: l.fill, "stroke-width": 1 }, under);
          break;
        }
      }
    });
    frame(svg, spec, xs, ys, xTickList, yTickList, function (t) { return t[1]; }, fmt);
    var lines = el("g", {}, svg);
    shown.forEach(function (s) {
      var d = "", pen = false;
      s.points.forEach(function (p) {
        if (p[1] === null || !isFinite(p[1]) || (spec.y_log && p[1] <= 0)) { pen = false; return; }
        d += (pen ? "L" : "M") + xs(p[0]).toFixed(1) + " " + ys(p[1]).toFixed(1);
        pen = true;
      });
      el("path", { d: d, fill: "none", stroke: s.color, "stroke-width": s.width || 2, "stroke-dasharray": dashOf(s.dash), "stroke-linejoin": "round" }, lines);
      if (spec.dots) s.points.forEach(function (p) {
        if (p[1] !== null && isFinite(p[1]) && !(spec.y_log && p[1] <= 0)) el("circle", { cx: xs(p[0]), cy: ys(p[1]), r: 3.5, fill: s.color }, lines);
      });
    });
    // Hover: a vertical rule at the nearest x of the data, and each visible series' value there.
    var rule = el("line", { y1: y1 - 8, y2: y0, "class": "rule", visibility: "hidden" }, svg);
    var tip = el("g", { visibility: "hidden", "class": "tip" }, svg);
    var hit = el("rect", { x: x0, y: y1 - 8, width: x1 - x0, height: y0 - y1 + 8, fill: "transparent" }, svg);
    hit.addEventListener("mouseleave", function () { rule.setAttribute("visibility", "hidden"); tip.setAttribute("visibility", "hidden"); });
    hit.addEventListener("mousemove", function (ev) {
      var pt = svg.createSVGPoint(); pt.x = ev.clientX; pt.y = ev.clientY;
      var p = pt.matrixTransform(svg.getScreenCTM().inverse());
      var x = xlo + (p.x - x0) / (x1 - x0) * (xhi - xlo);
      var rows = [], at = null;
      shown.forEach(function (s) {
        var best = null;
        s.points.forEach(function (q) { if (best === null || Math.abs(q[0] - x) < Math.abs(best[0] - x)) best = q; });
        if (best) { if (at === null || Math.abs(best[0] - x) < Math.abs(at - x)) at = best[0]; rows.push([s, best]); }
      });
      if (at === null) return;
      var head = spec.x_ticks ? (spec.x_ticks.filter(function (t) { return t[0] === at; })[0] || [0, fmt(at)])[1] : fmt(at) + " " + (spec.x_unit || "");
      var lines2 = [spec.x_name ? spec.x_name + " " + head : head];
      rows.forEach(function (r) { if (r[1][0] === at) lines2.push(r[0].name + ": " + fmt(r[1][1]) + (spec.y_unit ? " " + spec.y_unit : "")); });
      (spec.bands || []).forEach(function (b) { if (b.label && at >= b.from && at <= b.to) lines2.push(b.label); });
      rule.setAttribute("x1", xs(at)); rule.setAttribute("x2", xs(at)); rule.setAttribute("visibility", "visible");
      showTip(tip, lines2, xs(at), p.y, x0, x1);
    });
  }

  function showTip(tip, lines, x, y, x0, x1) {
    while (tip.firstChild) tip.removeChild(tip.firstChild);
    var width = 14 + 7.2 * Math.max.apply(null, lines.map(function (l) { return l.length; }));
    var height = 8 + 16 * lines.length;
    var left = x + 12 + width > x1 ? x - 12 - width : x + 12;
    if (left < x0) left = x0;
    var top = Math.max(M.top, Math.min(y - height / 2, H - M.bottom - height));
    el("rect", { x: left, y: top, width: width, height: height, rx: 4 }, tip);
    lines.forEach(function (l, i) { text(tip, left + 7, top + 18 + 16 * i, l, i === 0 ? { "font-weight": "bold" } : {}); });
    tip.setAttribute("visibility", "visible");
  }

  function drawBars(state) {
    var spec = state.spec, svg = state.svg, shown = visible(state);
    var cats = spec.categories, n = cats.length, k = Math.max(shown.length, 1);
    var x0 = M.left, x1 = W - M.right, y0 = H - M.bottom, y1 = M.top + 8;
    var top = 0;
    spec.series.forEach(function (s) { s.values.forEach(function (v) { if (v > top) top = v; }); });
    top = top > 0 ? top * 1.15 : 1;
    var ys = function (v) { return y0 - v / top * (y0 - y1); };
    var slot = (x1 - x0) / n, bw = Math.min(48, slot * 0.8 / k);
    var xs = function (i) { return x0 + slot * (i + 0.5); };
    frame(svg, spec, xs, ys, cats.map(function (c, i) { return [i, c.replace(" ", "\n")]; }), linTicks(0, top).filter(function (v) { return v <= top && (v === Math.round(v)); }), function (t) { return t[1]; }, fmt);
    var tip = el("g", { visibility: "hidden", "class": "tip" }, svg);
    shown.forEach(function (s, j) {
      s.values.forEach(function (v, i) {
        var x = xs(i) - bw * k / 2 + bw * j;
        var r = el("rect", { x: x, y: ys(v), width: Math.max(bw - 2, 1), height: Math.max(y0 - ys(v), v > 0 ? 1 : 0), fill: s.color, "class": "bar" }, svg);
        if (v > 0) text(svg, x + bw / 2 - 1, ys(v) - 4, fmt(v), { "text-anchor": "middle", "class": "value" });
        r.addEventListener("mousemove", function () { showTip(tip, [cats[i], s.name + ": " + fmt(v)], x + bw, ys(v), x0, x1); svg.appendChild(tip); });
        r.addEventListener("mouseleave", function () { tip.setAttribute("visibility", "hidden"); });
      });
    });
  }

  var data = JSON.parse(document.getElementById("charts").textContent);
  data.forEach(function (section) {
    var root = document.getElementById(section.target);
    if (!root) return;
    section.charts.forEach(function (spec, i) { draw(root, spec, section.target + "-" + i); });
  });
  document.documentElement.classList.add("drawn");
})();

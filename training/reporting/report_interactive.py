"""The report's interactive figures: dependence plots for any feature and per-case waterfalls.

A dependence plot for any feature and judgement, coloured by any feature, and a per-case
waterfall, drawn in the browser as SVG by a small inline script from data embedded in the page,
so the file stays self-contained and opens offline.

Categorical features (provider, RoSH, grade, IOM...) are shown by their labels and coloured by
category with a key; numeric ones on a blue-to-red scale with a colour bar.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from features.contract import CATEGORIES
from training.reporting.explain import FEATURE_LABELS, Contributions

INTERACTIVE_CASES = 1000


def is_categorical(column: pd.Series) -> bool:
    """Categories, flags and text are shown by label; numbers on a scale."""
    return (
        column.name in CATEGORIES
        or isinstance(column.dtype, pd.CategoricalDtype)
        or column.dtype == bool
        or not pd.api.types.is_numeric_dtype(column)
    )


def interactive_data(
    shap: dict[str, Contributions],
    X: pd.DataFrame,
    cases: pd.DataFrame,
    rows: np.ndarray,
    turn: float | None,
) -> str:
    """The embedded JSON (safe inside a ``<script>`` element) for the cases ``rows``."""
    features = list(X.columns)
    values, levels = {}, {}
    for feature in features:
        raw = cases[feature].iloc[rows] if feature in cases else X[feature].iloc[rows]
        if is_categorical(raw):
            text = raw.astype(str)
            order = [str(c) for c in CATEGORIES.get(feature, ())] or sorted(text.unique())
            order += sorted(set(text) - set(order))
            levels[feature] = order
            values[feature] = pd.Index(order).get_indexer(text).tolist()
        else:
            levels[feature] = None
            values[feature] = _rounded(raw.to_numpy(dtype=float), 4)
    data = {
        "features": features,
        "labels": {f: FEATURE_LABELS.get(f, f) for f in features},
        "judgements": list(shap),
        "case_ids": cases["case_id"].iloc[rows].astype(str).tolist(),
        "levels": levels,
        "values": values,
        "shap": {
            j: [_rounded(c.log_odds[rows, k], 4) for k in range(len(features))]
            for j, c in shap.items()
        },  # fmt: skip
        "scale": {j: _rounded(_scale(c)[rows], 5) for j, c in shap.items()},
        "base": {j: round(c.base_probability, 5) for j, c in shap.items()},
        "p": {j: _rounded(c.p[rows], 4) for j, c in shap.items()},
        "turn": turn,
    }
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def _scale(c: Contributions) -> np.ndarray:
    """Per case, probability contribution over log-odds contribution (shared by its features)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = c.probability / c.log_odds
    ratio = np.where(np.isfinite(ratio), ratio, np.nan)
    scale = np.nanmax(np.abs(ratio), axis=1)
    return np.nan_to_num(scale)


def _rounded(values: np.ndarray, digits: int) -> list[float]:
    return [float(v) for v in np.round(np.asarray(values, dtype=float), digits)]


SCRIPT = r"""
(function () {
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                   "#e377c2", "#7f7f7f"];
  function el(name, attrs, parent, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function fill(select, options) {
    for (const [value, label] of options) {
      const o = document.createElement("option"); o.value = value; o.textContent = label;
      select.appendChild(o);
    }
  }
  function shown(feature, i) {
    const v = D.values[feature][i], lv = D.levels[feature];
    return lv ? lv[v] : String(v);
  }
  function colourOf(feature) {
    const vals = D.values[feature], lv = D.levels[feature];
    if (lv) return i => PALETTE[vals[i] % PALETTE.length];
    const lo = Math.min(...vals), hi = Math.max(...vals), span = (hi - lo) || 1;
    return i => {
      const t = (vals[i] - lo) / span;
      const r = Math.round(30 + 220 * t), g = Math.round(100 - 40 * t);
      return `rgb(${r},${g},${Math.round(230 - 200 * t)})`;
    };
  }
  const fSel = document.getElementById("dep-feature");
  const jSel = document.getElementById("dep-judgement");
  const cSel = document.getElementById("dep-colour");
  const feats = D.features.map(f => [f, D.labels[f]]);
  fill(fSel, feats); fill(cSel, feats); fill(jSel, D.judgements.map(j => [j, j]));
  cSel.value = D.features.includes("provider_type") ? "provider_type" : D.features[0];
  function dependence() {
    const f = fSel.value, j = jSel.value, c = cSel.value, k = D.features.indexOf(f);
    const svg = document.getElementById("dep-svg"); svg.innerHTML = "";
    const W = 760, H = 420, L = 60, R = 170, T = 20, B = 50;
    const xs = D.values[f], ys = D.shap[j][k], lv = D.levels[f];
    const xlo = lv ? -0.5 : Math.min(...xs), xhi = lv ? lv.length - 0.5 : Math.max(...xs);
    const ylo = Math.min(...ys, 0), yhi = Math.max(...ys, 0);
    const X = v => L + (v - xlo) / ((xhi - xlo) || 1) * (W - L - R);
    const Y = v => T + (yhi - v) / ((yhi - ylo) || 1) * (H - T - B);
    el("line", {x1: L, x2: W - R, y1: Y(0), y2: Y(0), stroke: "#bbb"}, svg);
    const colour = colourOf(c);
    for (let i = 0; i < xs.length; i++) {
      const jitter = lv ? ((i * 7919) % 100 / 100 - 0.5) * 0.5 : 0;
      const dot = el("circle", {cx: X(xs[i] + jitter).toFixed(1), cy: Y(ys[i]).toFixed(1), r: 2.5,
        fill: colour(i), "fill-opacity": 0.7}, svg);
      el("title", {}, dot, `${D.case_ids[i]}: ${D.labels[f]} ${shown(f, i)}, ` +
        `SHAP ${ys[i]}, ${D.labels[c]} ${shown(c, i)}`);
    }
    if (lv) lv.forEach((name, v) => el("text", {x: X(v), y: H - B + 16, "font-size": 11,
      "text-anchor": "middle"}, svg, name));
    else [xlo, (xlo + xhi) / 2, xhi].forEach(v => el("text", {x: X(v), y: H - B + 16,
      "font-size": 11, "text-anchor": "middle"}, svg, +v.toFixed(1)));
    [ylo, 0, yhi].forEach(v => el("text", {x: L - 6, y: Y(v) + 4, "font-size": 11,
      "text-anchor": "end"}, svg, v.toFixed(2)));
    el("text", {x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle", "font-size": 12}, svg,
      D.labels[f]);
    el("text", {x: 14, y: (T + H - B) / 2, "font-size": 12, "text-anchor": "middle",
      transform: `rotate(-90 14 ${(T + H - B) / 2})`}, svg, "SHAP value (log-odds)");
    if (f === "officer_caseload" && D.turn !== null) {
      el("line", {x1: X(D.turn), x2: X(D.turn), y1: T, y2: H - B, stroke: "#000",
        "stroke-dasharray": "4,3"}, svg);
      el("text", {x: X(D.turn) + 4, y: T + 10, "font-size": 11}, svg, `turns at ~${D.turn}`);
    }
    const key = el("g", {id: "dep-key", transform: `translate(${W - R + 20},${T})`}, svg);
    el("text", {x: 0, y: 0, "font-size": 12, "font-weight": "bold"}, key, D.labels[c]);
    const clv = D.levels[c];
    if (clv) clv.forEach((name, v) => {
      el("rect", {x: 0, y: 10 + 16 * v, width: 10, height: 10,
        fill: PALETTE[v % PALETTE.length]}, key);
      el("text", {x: 14, y: 19 + 16 * v, "font-size": 11}, key, name);
    });
    else {
      const vals = D.values[c], lo = Math.min(...vals), hi = Math.max(...vals);
      const grad = el("linearGradient", {id: "dep-bar", x1: 0, x2: 0, y1: 1, y2: 0},
        el("defs", {}, key));
      el("stop", {offset: "0", "stop-color": "rgb(30,100,230)"}, grad);
      el("stop", {offset: "1", "stop-color": "rgb(250,60,30)"}, grad);
      el("rect", {x: 0, y: 10, width: 12, height: 150, fill: "url(#dep-bar)"}, key);
      el("text", {x: 16, y: 20, "font-size": 11}, key, `${+hi.toFixed(2)} (high)`);
      el("text", {x: 16, y: 160, "font-size": 11}, key, `${+lo.toFixed(2)} (low)`);
    }
  }
  [fSel, jSel, cSel].forEach(s => s.addEventListener("change", dependence));
  fSel.value = "officer_caseload"; jSel.value = D.judgements[0]; dependence();

  const caseSel = document.getElementById("wf-case");
  const wjSel = document.getElementById("wf-judgement");
  fill(caseSel, D.case_ids.map((id, i) => [i, id])); fill(wjSel, D.judgements.map(j => [j, j]));
  function waterfall() {
    const i = +caseSel.value, j = wjSel.value, svg = document.getElementById("wf-svg");
    svg.innerHTML = "";
    const parts = D.features.map((f, k) => [f, D.shap[j][k][i] * D.scale[j][i]])
      .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
    const W = 760, L = 230, R = 70, row = 22, T = 10, H = T + row * (parts.length + 2) + 20;
    svg.setAttribute("height", H);
    let level = D.base[j];
    const ends = [level];
    parts.forEach(([, v]) => { level += v; ends.push(level); });
    const lo = Math.min(0, ...ends), hi = Math.max(...ends);
    const X = v => L + (v - lo) / ((hi - lo) || 1) * (W - L - R);
    const bar = (y, a, b, colour, label, value) => {
      el("text", {x: L - 6, y: y + 15, "font-size": 12, "text-anchor": "end"}, svg, label);
      el("rect", {x: X(Math.min(a, b)), y: y + 4, width: Math.max(1, Math.abs(X(b) - X(a))),
        height: row - 8, fill: colour}, svg);
      el("text", {x: X(Math.max(a, b)) + 4, y: y + 15, "font-size": 11}, svg, value);
    };
    bar(T, 0, D.base[j], "#8c8c8c", "typical case (base)", D.base[j].toFixed(3));
    let at = D.base[j];
    parts.forEach(([f, v], r) => {
      const sign = v >= 0 ? "+" : "";
      bar(T + row * (r + 1), at, at + v, v >= 0 ? "#d62728" : "#1f77b4",
        `${D.labels[f]} = ${shown(f, i)}`, sign + v.toFixed(3));
      at += v;
    });
    bar(T + row * (parts.length + 1), 0, D.p[j][i], "#333", "P(insufficient)",
      D.p[j][i].toFixed(3));
  }
  [caseSel, wjSel].forEach(s => s.addEventListener("change", waterfall));
  waterfall();
})();
"""

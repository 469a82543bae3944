// casework planner page: simulate → draw (sealed) → release, against the service's own API.
"use strict";

const $ = (id) => document.getElementById(id);
let commitment = null;
let uploaded = null;

$("risk-weight").addEventListener("input", () => {
  $("risk-weight-value").textContent = Number($("risk-weight").value).toFixed(2);
});
$("token").value = sessionStorage.getItem("casework-token") || "";
$("token").addEventListener("change", () => sessionStorage.setItem("casework-token", $("token").value));
$("frame-file").addEventListener("change", async () => {
  const file = $("frame-file").files[0];
  uploaded = file ? parseCsv(await file.text()) : null;
  document.querySelector("input[value=upload]").checked = true;
});

function list(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

function minimums(text) {
  const out = {};
  for (const item of list(text)) {
    const at = item.lastIndexOf(":");
    if (at < 0) throw new Error(`minimum "${item}": expected column=value:count`);
    out[item.slice(0, at)] = Number(item.slice(at + 1));
  }
  return out;
}

function request() {
  const body = {
    size: Number($("size").value),
    strata: list($("strata").value),
    balance: list($("balance").value),
    officer_cap: Number($("officer-cap").value),
    risk_weight: Number($("risk-weight").value),
    floor: Number($("floor").value),
    method: $("method").value,
  };
  if ($("minimums").value.trim()) body.minimums = minimums($("minimums").value);
  return body;
}

function source() {
  const upload = document.querySelector("input[name=source]:checked").value === "upload";
  if (upload) {
    if (!uploaded) throw new Error("choose a CSV file to upload");
    return { cases: uploaded };
  }
  return { frame: $("frame-name").value };
}

const NUMERIC = new Set(["officer_caseload", "officer_changes", "months_supervised", "age"]);

function parseCsv(text) {
  const lines = text.replace(/\r/g, "").split("\n").filter((l) => l.length);
  const header = lines[0].split(",");
  return lines.slice(1).map((line) => {
    const cells = line.split(",");
    const row = {};
    header.forEach((name, i) => {
      const v = cells[i];
      row[name] = NUMERIC.has(name) ? Number(v) : name === "iom" ? /^(true|1|yes)$/i.test(v) : v;
    });
    return row;
  });
}

async function call(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${$("token").value}` },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) {
    const detail = (answer.detail || []).map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
    throw new Error(`${response.status} ${answer.error || ""} ${detail}`.trim());
  }
  return answer;
}

function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

function table(element, rows, columns) {
  const head = `<tr>${columns.map((c) => `<th>${c}</th>`).join("")}</tr>`;
  const body = rows
    .map((r) => `<tr>${columns.map((c) => `<td>${format(r[c])}</td>`).join("")}</tr>`)
    .join("");
  element.innerHTML = head + body;
}

function format(value) {
  if (typeof value === "number" && !Number.isInteger(value)) return value.toFixed(4);
  return value === null || value === undefined ? "" : String(value).replace(/</g, "&lt;");
}

async function run(action) {
  try {
    await action();
  } catch (error) {
    status(error.message, true);
  }
}

$("simulate").addEventListener("click", () =>
  run(async () => {
    status("simulating…");
    const sim = await call("/simulate", { request: request(), ...source(), draws: 100 });
    const rows = [
      { figure: "expected insufficient judgements found", value: sim.expected_insufficient },
      { figure: "with equal chances", value: sim.equal_chance_insufficient },
      { figure: "yield ratio", value: sim.yield_ratio },
      { figure: "design effect (Kish)", value: sim.design_effect },
      { figure: "share of draws with every margin within ±2", value: sim.margins_within_2 },
    ];
    for (const [judgement, width] of Object.entries(sim.half_widths || {})) {
      rows.push({ figure: `95% CI half-width, ${judgement}`, value: width });
    }
    table($("sim-table"), rows, ["figure", "value"]);
    const reach = (size) =>
      size ?? (sim.rating_size_limit ? `not within ${sim.rating_size_limit} cases` : "not found");
    const ratings = (sim.rating_accuracy || []).map((r) => ({
      standard: r.standard,
      "lowest key question": r.lowest,
      "predicted share": r.predicted_share,
      rating: r.rating,
      "P(right)": r.p_right,
      "size for 90%": reach(r.size_for_90),
    }));
    table($("rating-table"), ratings, Object.keys(ratings[0] || {}));
    frontier(sim.frontier || []);
    $("simulation").hidden = false;
    status("simulated");
  }),
);

$("draw").addEventListener("click", () =>
  run(async () => {
    status("drawing…");
    const sealed = await call("/sample", { request: request(), ...source() });
    commitment = sealed.commitment;
    $("commitment").textContent = commitment;
    const d = sealed.design;
    table(
      $("design-table"),
      [
        { figure: "cases", value: d.size },
        { figure: "officers", value: d.officers },
        { figure: "expected yield ratio", value: d.yield_ratio },
        { figure: "design effect (Kish)", value: d.design_effect },
        { figure: "effective sample size", value: d.effective_sample_size },
      ],
      ["figure", "value"],
    );
    $("sealed").hidden = false;
    $("release").disabled = false;
    status("sample drawn and sealed");
  }),
);

$("release").addEventListener("click", () =>
  run(async () => {
    status("releasing…");
    const released = await call("/sample/release", { commitment });
    const verdict = await verifies(released);
    $("verified").textContent =
      verdict === null
        ? "This browser cannot check the commitment here (it needs HTTPS or localhost)."
        : verdict
          ? `Commitment verified: this is the sealed list (seed ${released.seed}).`
          : "Commitment does NOT match.";
    const columns = ["case_id", "office", "officer_id", "stratum", "inclusion_probability", "design_weight", "risk_score", "reason"];
    table($("cases-table"), released.cases, columns);
    charts(released.design.composition || {});
    // every column the release holds: the judged-sample file of CONTRACT.md §7
    const fields = Object.keys(released.cases[0] || {});
    const csv = [fields.map(csvCell).join(",")]
      .concat(released.cases.map((r) => fields.map((c) => csvCell(r[c])).join(",")))
      .join("\n");
    $("download").href = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
    $("released").hidden = false;
    status(`released ${released.cases.length} cases`);
  }),
);

// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break; null is empty.
function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

// The commitment's canonical form (serving/commitment.py): the compact JSON list
// [[case_id, stratum, π], ...] sorted by case id (code points, as Python sorts), non-ASCII
// characters as themselves, UTF-8; π to 12 significant digits in exponent form with a bare
// exponent: Python's format(π, ".11e") and toExponential(11) round the same exact value.
function canonical(cases) {
  const rows = cases
    .map((c) => [String(c.case_id), String(c.stratum), piText(c.inclusion_probability)])
    .sort((a, b) => byCodePoint(a[0], b[0]));
  return JSON.stringify(rows);
}

function piText(x) {
  const [mantissa, exponent] = Number(x).toExponential(11).split("e");
  return `${mantissa}e${Number(exponent)}`;
}

function byCodePoint(a, b) {
  const x = Array.from(a, (ch) => ch.codePointAt(0));
  const y = Array.from(b, (ch) => ch.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

// Whether a released sample hashes to its commitment (null: no WebCrypto on this page).
async function verifies(released) {
  const digest = await sha256(`${released.salt}\n${canonical(released.cases)}`);
  return digest === null ? null : digest === released.commitment;
}

async function sha256(text) {
  if (!crypto.subtle) return null; // plain-http pages off localhost have no WebCrypto
  const bytes = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function frontier(points) {
  const plot = $("frontier");
  plot.innerHTML = "";
  if (!points.length) return;
  const w = 520, h = 280, m = 45;
  const xs = points.map((p) => p.mean_half_width), ys = points.map((p) => p.yield_ratio);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x) => m + ((x - x0) / (x1 - x0 || 1)) * (w - 2 * m);
  const sy = (y) => h - m - ((y - y0) / (y1 - y0 || 1)) * (h - 2 * m);
  plot.append(svg("line", { x1: m, y1: h - m, x2: w - m, y2: h - m, stroke: "#555" }));
  plot.append(svg("line", { x1: m, y1: m, x2: m, y2: h - m, stroke: "#555" }));
  plot.append(svg("text", { x: w / 2, y: h - 8, "text-anchor": "middle" }, "mean 95% CI half-width"));
  plot.append(svg("text", { x: 12, y: m - 12 }, "yield vs equal chances"));
  plot.append(svg("polyline", { points: points.map((p) => `${sx(p.mean_half_width)},${sy(p.yield_ratio)}`).join(" "), fill: "none", stroke: "#2f6db3" }));
  for (const p of points) {
    plot.append(svg("circle", { cx: sx(p.mean_half_width), cy: sy(p.yield_ratio), r: 4, fill: "#2f6db3" }));
    plot.append(svg("text", { x: sx(p.mean_half_width) + 6, y: sy(p.yield_ratio) - 6, "font-size": 11 }, `λ=${p.risk_weight}`));
  }
}

function charts(composition) {
  const holder = $("charts");
  holder.innerHTML = "";
  for (const [column, rows] of Object.entries(composition)) {
    const shown = rows.slice(0, 12);
    const bar = 16, gap = 6, label = 150, width = 420;
    const height = shown.length * (2 * bar + gap) + 10;
    const box = document.createElement("div");
    box.className = "chart";
    box.dataset.column = column;
    box.innerHTML = `<h4>${column}: sample vs population</h4>`;
    const plot = svg("svg", { width, height, role: "img", "aria-label": `${column} composition` });
    const top = Math.max(...shown.flatMap((r) => [r.sample_share, r.population_share]), 0.01);
    shown.forEach((r, i) => {
      const y = 5 + i * (2 * bar + gap);
      const scale = (v) => (v / top) * (width - label - 50);
      plot.append(svg("text", { x: 0, y: y + bar + 4, "font-size": 12 }, r.value));
      plot.append(svg("rect", { x: label, y, width: scale(r.sample_share), height: bar - 2, class: "bar-sample" }));
      plot.append(svg("rect", { x: label, y: y + bar, width: scale(r.population_share), height: bar - 2, class: "bar-population" }));
      plot.append(svg("text", { x: label + scale(r.sample_share) + 4, y: y + bar - 4, "font-size": 11 }, `${(100 * r.sample_share).toFixed(1)}%`));
    });
    box.append(plot);
    holder.append(box);
  }
}

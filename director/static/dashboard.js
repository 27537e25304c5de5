// mlpower director dashboard: reads /v1/live (server-sent events) with fetch, so that the token
// travels in the Authorization header and never in a URL.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "mlpower-director-token";
const plot = $("plot");

let lastEventId = null;
let current = null; // {sessionId, phase, phaseStartNs, phaseStopNs} (director clock)
let traces = {}; // trace name -> index in the plot
let shapes = [];
let plotted = false; // the plot is drawn at the first samples: no empty axis before
let gpuLatest = {};
let pendingWindow = {};
// The director's clock minus performance.now(), in ms: elapsed times count on the director's clock, never on
// this browser's (which may be off by seconds or hours). Set by each snapshot's now_utc_ns, and raised to
// every director time seen since, so that the estimate is never behind an event already received.
let directorOffsetMs = null;

function headers() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function setConnection(state, text) {
  const pill = $("connection");
  pill.dataset.state = state;
  pill.textContent = text;
}

function ms(ns) {
  return ns / 1e6;
}

function fmtTime(ns) {
  return new Date(ms(ns)).toISOString().slice(11, 23) + " UTC";
}

function seeDirectorTime(ns, isNow) {
  const offsetMs = ms(ns) - performance.now();
  if (isNow || directorOffsetMs === null || offsetMs > directorOffsetMs) directorOffsetMs = offsetMs;
}

function directorNowMs() {
  return directorOffsetMs === null ? null : performance.now() + directorOffsetMs;
}

function resetPlot() {
  traces = {};
  shapes = [];
  gpuLatest = {};
  pendingWindow = {};
  if (plotted) Plotly.purge(plot);
  plotted = false;
  plot.hidden = true;
  $("plot-waiting").hidden = false;
  $("markers").replaceChildren();
}

function ensurePlot() {
  if (plotted) return;
  plotted = true;
  $("plot-waiting").hidden = true;
  plot.hidden = false;
  Plotly.newPlot(
    plot,
    [],
    {
      margin: { t: 20, r: 20, b: 40, l: 60 },
      // plotly.js 3 and later draw a title only as {text}: a bare string is dropped without a word
      xaxis: { type: "date", title: { text: "time (UTC)" } },
      yaxis: { title: { text: "power (W)" }, rangemode: "tozero" },
      legend: { orientation: "h" },
      shapes,
      annotations: [],
    },
    { responsive: true, displaylogo: false },
  );
}

function trace(name, style) {
  ensurePlot();
  if (!(name in traces)) {
    traces[name] = Object.keys(traces).length;
    Plotly.addTraces(plot, { name, x: [], y: [], mode: "lines", type: "scatter", line: style || {} });
  }
  return traces[name];
}

function extend(name, tNs, values, style) {
  const index = trace(name, style);
  Plotly.extendTraces(plot, { x: [tNs.map((t) => new Date(ms(t)))], y: [values] }, [index]);
}

function startSession(sessionId) {
  if (current && current.sessionId === sessionId) return;
  current = { sessionId, phase: null, phaseStartNs: null, phaseStopNs: null };
  noteSilence(null);
  $("session-id").textContent = sessionId;
  $("elapsed").textContent = "-";
  showVerdict(null);
  resetPlot();
}

function setVerdict(id, verdict) {
  const box = $(id);
  box.dataset.verdict = verdict || "";
  box.querySelector(".word").textContent = verdict ? verdict.toUpperCase() : "-";
}

// status: a SessionStatus or a state event (both carry state, error, verdict, official_verdict)
function showVerdict(status) {
  const ended = status && (status.state === "closed" || status.state === "failed");
  $("verdict").hidden = !ended;
  if (!ended) return;
  setVerdict("verdict-mlpower", status.verdict);
  setVerdict("verdict-official", status.official_verdict);
  let note = "";
  if (status.state === "failed") note = `the session failed, no verdict: ${status.error || "no reason given"}`;
  else if (!status.verdict) note = "closed: the analysis is not in yet";
  else note = `session ${status.session_id} closed; the Runs table links its report`;
  $("verdict-note").textContent = note;
}

const SILENCE_SHOWN_S = 5; // an agent quiet longer than its heartbeat (a second or two) has stopped talking
let silence = null; // {sessionId, silentS, leaseS, atMs}: the director's word on the agent's silence, when

function ended(state) {
  return state === "closed" || state === "failed";
}

// status: a SessionStatus (the snapshot's active session) or null
function noteSilence(status) {
  const leased = status && status.agent_silent_s !== null && status.agent_silent_s !== undefined;
  silence = leased && !ended(status.state)
    ? { sessionId: status.session_id, silentS: status.agent_silent_s, leaseS: status.lease_s, atMs: performance.now() }
    : null;
  showSilence();
}

// the agent's silence so far: the director's figure at the last snapshot, counted on from there
function showSilence() {
  const box = $("agent-silent");
  const seconds = silence && silence.silentS + (performance.now() - silence.atMs) / 1000;
  box.hidden = !silence || seconds < SILENCE_SHOWN_S;
  if (box.hidden) return;
  box.dataset.seconds = seconds.toFixed(1);
  box.dataset.session = silence.sessionId;
  $("agent-silent-s").textContent = seconds.toFixed(0);
  $("agent-lease").textContent = silence.leaseS
    ? `the director aborts the session after ${silence.leaseS} s of silence and frees the meter`
    : "";
  const route = `${location.origin}/v1/sessions/${silence.sessionId}/abort`;
  $("abort-curl").textContent = `curl -X POST -H "Authorization: Bearer $(cat director.token)" ${route}`;
}

async function pollSilence() {
  if (!current || $("connection").dataset.state !== "live" || ended($("state").textContent.split(":")[0])) return;
  try {
    const response = await fetch("/v1/live/snapshot", { headers: headers(), cache: "no-store" });
    if (response.ok) noteSilence((await response.json()).active);
  } catch (err) {
    // the live stream says when the director is gone
  }
}

// abort takes the director's token (the dashboard itself only reads); the token is not kept
async function abortSession(e) {
  e.preventDefault();
  if (!silence) return;
  const token = $("abort-token").value.trim();
  $("abort-token").value = "";
  const response = await fetch(`/v1/sessions/${silence.sessionId}/abort`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ reason: "from the dashboard, its agent silent" }),
  });
  const body = await response.json().catch(() => ({}));
  $("abort-result").textContent = response.ok
    ? `aborted: the session is ${body.state}`
    : `not aborted: ${body.detail || `the director answered ${response.status}`}`;
}

function showStatus(status) {
  if (!status) return;
  startSession(status.session_id);
  noteSilence(status);
  $("state").textContent = status.state;
  $("simulated").hidden = !status.simulated;
  if (status.last_power_w !== null) $("power-w").textContent = `${status.last_power_w.toFixed(1)} W`;
  showVerdict(status);
}

// tier: {name, description, informative} (the director's meter, from its URL) or null/absent: not known
function showTier(tier) {
  const line = $("tier-line");
  line.hidden = !tier;
  if (!tier) return;
  line.dataset.informative = String(tier.informative);
  line.dataset.tier = tier.name;
  $("tier").textContent = tier.name;
  $("tier-informative").hidden = !tier.informative;
  $("tier-description").textContent = tier.description;
}

function onSnapshot(data) {
  seeDirectorTime(data.now_utc_ns, true);
  $("meter").textContent = `meter ${data.meter_url}, every ${data.interval_ms} ms · mlpower ${data.version}`;
  showTier(data.tier);
  showStatus(data.active);
}

function onPower(data) {
  startSession(data.session_id);
  extend("wall", data.t_utc_ns, data.power_w, { color: "#0969da", width: 2 });
  if (data.channels_w) {
    const count = data.channels_w[0].length;
    for (let c = 0; c < count; c++) {
      extend(`wall ch${c + 1}`, data.t_utc_ns, data.channels_w.map((row) => row[c]), { width: 1 });
    }
    $("channels-w").textContent = data.channels_w[data.channels_w.length - 1]
      .map((w, i) => `ch${i + 1} ${w.toFixed(1)} W`)
      .join(", ");
  }
  const last = data.power_w[data.power_w.length - 1];
  $("power-w").textContent = `${last.toFixed(1)} W`;
  $("energy-j").textContent = `${data.energy_j.toFixed(0)} J (${data.phase})`;
  $("samples").textContent = `${data.samples} (${data.phase})`;
  $("phase").textContent = data.phase;
}

function onGpu(data) {
  startSession(data.session_id);
  if (!data.power_w.length) return;
  extend(`${data.source}${data.simulated ? " (simulated)" : ""}`, data.t_utc_ns, data.power_w, {
    dash: "dot",
    width: 1,
  });
  gpuLatest[data.source] = data.power_w[data.power_w.length - 1];
  const total = Object.values(gpuLatest).reduce((a, b) => a + b, 0);
  $("gpu-w").textContent = `${total.toFixed(1)} W (${Object.keys(gpuLatest).length} GPU)`;
}

// a multi-node system's other wall meters (serve --system): one line per meter, named by the nodes it measures
function onWallSource(data) {
  startSession(data.session_id);
  if (!data.power_w.length) return;
  extend(`wall ${data.nodes.join("+")} (${data.source})`, data.t_utc_ns, data.power_w, { width: 2 });
}

function addMarker(data) {
  const x = new Date(ms(data.t_utc_ns));
  const li = document.createElement("li");
  li.className = `marker marker-${data.what}`;
  li.dataset.phase = data.phase;
  li.dataset.what = data.what;
  li.dataset.tUtcNs = String(data.t_utc_ns);
  li.textContent = `${data.phase} ${data.what.replace("_", " ")} at ${fmtTime(data.t_utc_ns)}`;
  // in time order: a phase's LoadGen markers arrive with its logs, after the phase's stop marker
  const later = [...$("markers").children].find((other) => Number(other.dataset.tUtcNs) > data.t_utc_ns);
  $("markers").insertBefore(li, later || null);
  if (data.what === "loadgen_begin") {
    pendingWindow[data.phase] = x;
  } else if (data.what === "loadgen_end" && pendingWindow[data.phase]) {
    shapes.push({
      type: "rect", xref: "x", yref: "paper", x0: pendingWindow[data.phase], x1: x, y0: 0, y1: 1,
      fillcolor: "#2da44e", opacity: 0.12, line: { width: 0 },
    });
  } else {
    shapes.push({
      type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1,
      line: { color: data.what === "start" ? "#1a7f37" : "#cf222e", dash: "dash", width: 1 },
    });
  }
  if (plotted) Plotly.relayout(plot, { shapes });
  if (data.what === "start") {
    // break every line here: the plot must not bridge the time between phases
    const indices = Object.values(traces);
    if (indices.length) Plotly.extendTraces(plot, { x: indices.map(() => [x]), y: indices.map(() => [null]) }, indices);
    current.phase = data.phase;
    current.phaseStartNs = data.t_utc_ns;
    current.phaseStopNs = null;
  } else if (data.what === "stop" && current.phase === data.phase) {
    current.phaseStopNs = data.t_utc_ns;
  }
  showElapsed();
}

function onMarker(data) {
  startSession(data.session_id);
  if (data.what === "start" || data.what === "stop") seeDirectorTime(data.t_utc_ns, false);
  addMarker(data);
}

function onState(data) {
  startSession(data.session_id);
  $("state").textContent = data.state + (data.error ? `: ${data.error}` : "");
  $("simulated").hidden = !data.simulated;
  showVerdict(data);
  if (ended(data.state)) {
    noteSilence(null);
    loadRuns();
  }
}

const handlers = {
  snapshot: onSnapshot,
  power: onPower,
  gpu: onGpu,
  wall_source: onWallSource,
  marker: onMarker,
  state: onState,
};

function dispatch(frame) {
  let event = "message";
  const data = [];
  for (const line of frame.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") lastEventId = value;
  }
  if (!data.length || !(event in handlers)) return;
  handlers[event](JSON.parse(data.join("\n")));
}

async function connect() {
  const h = headers();
  if (lastEventId !== null) h["Last-Event-ID"] = lastEventId;
  let response;
  try {
    response = await fetch("/v1/live", { headers: h, cache: "no-store" });
  } catch (err) {
    setConnection("error", "director unreachable, retrying");
    return setTimeout(connect, 2000);
  }
  if (response.status === 401 || response.status === 403) {
    // 403: a loopback director reached by a name that is not loopback; its token opens it all the same
    setConnection("error", "token needed");
    $("token-form").hidden = false;
    if (sessionStorage.getItem(TOKEN_KEY)) $("token-error").textContent = "the director did not accept that token";
    else if (response.status === 403) $("token-error").textContent = (await response.json()).detail;
    return;
  }
  if (!response.ok) {
    setConnection("error", `director answered ${response.status}, retrying`);
    return setTimeout(connect, 2000);
  }
  $("token-form").hidden = true;
  setConnection("live", "live");
  loadRuns();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (err) {
    // the connection dropped: reconnect below, resuming after the last event seen
  }
  setConnection("error", "reconnecting");
  setTimeout(connect, 1000);
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "-" : text;
  row.appendChild(td);
  return td;
}

function quantity(q) {
  // the figure with its expanded uncertainty (k=2) where the result has one
  if (!q) return null;
  const bar = q.uncertainty ? ` ± ${Number(q.uncertainty.expanded).toPrecision(2)} (k=${q.uncertainty.k})` : "";
  return `${Number(q.value).toPrecision(5)} ${q.unit}${bar}`;
}

async function openWithToken(e) {
  // a plain link cannot carry the Authorization header: fetch the report and open it from memory
  if (!sessionStorage.getItem(TOKEN_KEY)) return;
  e.preventDefault();
  const response = await fetch(e.currentTarget.href, { headers: headers() });
  if (response.ok) window.open(URL.createObjectURL(await response.blob()), "_blank");
}

function runRow(run) {
  const row = document.createElement("tr");
  row.dataset.run = run.name;
  cell(row, run.name + (run.simulated ? " (SIMULATED)" : ""));
  cell(row, run.state);
  cell(row, run.result && run.result.scenario);
  cell(row, run.result && quantity(run.result.power_metric));
  cell(row, run.result && quantity(run.result.efficiency));
  cell(row, run.result && `${run.result.verdict || "-"} / ${run.result.official_verdict || "-"}`);
  const tier = cell(row, run.tier && run.tier.name + (run.tier.informative ? " INFORMATIVE" : ""));
  if (run.tier) {
    tier.className = run.tier.informative ? "tier informative" : "tier";
    tier.dataset.tier = run.tier.name;
    tier.title = run.tier.description;
  }
  const td = cell(row, run.report ? "" : null);
  if (run.report) {
    const a = document.createElement("a");
    a.href = run.report;
    a.textContent = "report";
    a.addEventListener("click", openWithToken);
    td.appendChild(a);
  }
  return row;
}

let runsLoading = null; // the load in flight: one at a time
let runsAgain = false; // asked for while one was in flight: load once more after it

async function loadRunsOnce() {
  let response;
  try {
    response = await fetch("/v1/runs", { headers: headers(), cache: "no-store" });
  } catch (err) {
    return; // the director is gone for now: keep the list shown
  }
  if (!response.ok) return;
  const rows = (await response.json()).map(runRow);
  // the whole table in one step, after the last await: two loads can never both append
  $("runs").querySelector("tbody").replaceChildren(...rows);
}

async function loadRuns() {
  if (runsLoading) {
    runsAgain = true;
    return runsLoading;
  }
  runsLoading = (async () => {
    try {
      do {
        runsAgain = false;
        await loadRunsOnce();
      } while (runsAgain);
    } finally {
      runsLoading = null;
    }
  })();
  return runsLoading;
}

// the phase's time so far on the director's clock (start marker to the director's now), or its length once stopped
function showElapsed() {
  if (!current || current.phaseStartNs === null) return;
  const stopped = current.phaseStopNs !== null;
  const endMs = stopped ? ms(current.phaseStopNs) : directorNowMs();
  if (endMs === null) return;
  const seconds = (endMs - ms(current.phaseStartNs)) / 1000;
  $("elapsed").textContent = `${seconds.toFixed(0)} s (${current.phase}${stopped ? ", stopped" : ""})`;
  $("elapsed").dataset.seconds = seconds.toFixed(3);
}

setInterval(showElapsed, 500);
setInterval(showSilence, 500);
setInterval(pollSilence, 2000);
$("abort-form").addEventListener("submit", abortSession);

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token-error").textContent = "";
  connect();
});

resetPlot();
connect();

// The dashboard: every number comes from the reports API (/api/reports/*), drawn with Plotly.
"use strict";

const CONFIG = { responsive: true, displayModeBar: false };
const LAYOUT = { margin: { t: 10, r: 10, b: 60, l: 50 }, bargap: 0.15 };

async function report(path, params) {
  const query = new URLSearchParams(params || {});
  const response = await fetch(`/api/reports/${path}?${query}`, { credentials: "same-origin" });
  const body = await response.json();
  if (!response.ok) {
    throw new Error(body.error || `HTTP ${response.status}`);
  }
  return body;
}

// Plotly renders a subset of HTML in labels and hover text (links and styles included):
// text from the data goes in with its markup escaped, and Plotly shows it as typed.
function plain(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function hours(seconds) {
  return Math.round(seconds / 36) / 100;
}

function draw(id, traces, layout, empty) {
  const element = document.getElementById(id);
  const points = traces.reduce((n, trace) => n + trace.x.length, 0);
  const shown = Object.assign({}, LAYOUT, layout || {});
  if (!points && empty) {
    shown.annotations = [{ text: empty, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }];
    shown.xaxis = { visible: false };
    shown.yaxis = { visible: false };
  }
  return Plotly.react(element, traces, shown, CONFIG).then(() => {
    element.dataset.drawn = "true";
    element.dataset.points = String(points);
  });
}

function weekStart() {
  // Monday 00:00 UTC; in the week's first minute, the minute before: the reports count up to
  // the current minute, and a window must not be empty.
  const now = new Date();
  const day = (now.getUTCDay() + 6) % 7; // Monday is 0
  const monday = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - day);
  const minute = Math.floor(now.getTime() / 60000) * 60000;
  return new Date(Math.min(monday, minute - 60000));
}

// At most one refresh a second, however many changes arrive: a burst of changes is one
// refresh at its end (and one at its start), never a refresh per change.
const REFRESH_EVERY_MS = 1000;
let lastRefresh = 0;
let refreshTimer = null;
let refreshing = null;

function showPending() {
  // For whoever watches the page (the browser tests): whether a refresh is due or running.
  document.body.dataset.pending = String(refreshTimer !== null || refreshing !== null);
}

function refreshSoon() {
  if (refreshTimer !== null) {
    return;
  }
  const wait = Math.max(0, lastRefresh + REFRESH_EVERY_MS - Date.now());
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    (refreshing || Promise.resolve()).then(refresh);
  }, wait);
  showPending();
}

async function refresh() {
  lastRefresh = Date.now();
  const current = load();
  refreshing = current;
  showPending();
  try {
    await current;
  } finally {
    if (refreshing === current) {
      refreshing = null;
    }
    showPending();
  }
}

// Changes as they happen (Server-Sent Events); the browser reconnects by itself, resuming
// after the last change it saw.
const CHANGE_TYPES = ["member.created", "member.updated", "member.deleted", "period.created",
                      "period.updated", "period.deleted", "roster.bulk"];

function listen() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/changes/stream");
  source.addEventListener("open", () => {
    live.dataset.state = "on";
    live.textContent = "● live";
  });
  source.addEventListener("error", () => {
    live.dataset.state = "off";
    live.textContent = "○ reconnecting";
  });
  CHANGE_TYPES.forEach((type) => source.addEventListener(type, refreshSoon));
}

async function load() {
  const days = Number(document.getElementById("range").value);
  const calendar = document.getElementById("calendar").value;
  const since = new Date(Date.now() - days * 86400000).toISOString();
  const status = document.getElementById("status");
  status.textContent = "Loading…";
  try {
    const [activity, week, active, zones, lengths] = await Promise.all([
      report("activity", { since: since, group: "day", tz: calendar, top: 10 }),
      report("activity", { since: weekStart().toISOString(), tz: calendar, top: 10 }),
      report("active"),
      report("zones"),
      report("sessions", { since: since }),
    ]);
    const labels = Object.keys(activity.totals);
    const total = labels.reduce((sum, key) => sum + activity.totals[key], 0);
    document.querySelector("[data-testid=total-hours]").textContent = hours(total).toLocaleString("en");
    document.querySelector("[data-testid=total-hours]").dataset.seconds = String(total);
    document.querySelector("[data-testid=active-count]").textContent = String(active.members.length);
    const sessions = lengths.bins.reduce((sum, bin) => sum + bin.sessions, 0);
    document.querySelector("[data-testid=session-count]").textContent = sessions.toLocaleString("en");

    const list = document.getElementById("active-now");
    list.replaceChildren(...active.members.map((member) => {
      const item = document.createElement("li");
      item.textContent = `${member.real_name} (${member.tz}) since ${member.active_since.replace("T", " ").replace("Z", " UTC")}`;
      return item;
    }));
    if (!active.members.length) {
      const item = document.createElement("li");
      item.textContent = "Nobody is logged in right now.";
      list.replaceChildren(item);
    }

    const top = week.members.filter((member) => member.total_seconds > 0);
    const zoneRows = zones.zones.slice(0, 20);
    await Promise.all([
      draw("per-day", [{ type: "bar", x: labels, y: labels.map((key) => hours(activity.totals[key])),
                         marker: { color: "#3889cf" }, hovertemplate: "%{x}: %{y} h<extra></extra>" }],
           { yaxis: { title: { text: "hours" } } }),
      // One bar per member (by id: two members may share a name), labelled with the name.
      draw("top-members", [{ type: "bar", orientation: "h",
                             x: top.map((member) => hours(member.total_seconds)),
                             y: top.map((member) => member.id),
                             customdata: top.map((member) => plain(member.real_name)),
                             marker: { color: "#2f855a" }, hovertemplate: "%{customdata}: %{x} h<extra></extra>" }],
           { margin: { t: 10, r: 10, b: 40, l: 110 },
             yaxis: { autorange: "reversed", type: "category", tickmode: "array",
                      tickvals: top.map((member) => member.id),
                      ticktext: top.map((member) => plain(member.real_name)) },
             xaxis: { title: { text: "hours this week" } } }, "No activity this week yet"),
      draw("zones", [{ type: "bar", x: zoneRows.map((zone) => plain(zone.tz)), y: zoneRows.map((zone) => zone.members),
                       marker: { color: "#805ad5" }, hovertemplate: "%{x}: %{y} members<extra></extra>" }],
           { margin: { t: 10, r: 10, b: 110, l: 40 } }),
      draw("lengths", [{ type: "bar", x: lengths.bins.map((bin) => bin.label),
                         y: lengths.bins.map((bin) => bin.sessions),
                         marker: { color: "#dd6b20" }, hovertemplate: "%{x}: %{y} sessions<extra></extra>" }],
           { margin: { t: 10, r: 10, b: 70, l: 50 } }),
    ]);
    status.textContent = `${activity.since.slice(0, 10)} to ${activity.until.slice(0, 10)}, ` +
      `${calendar === "member" ? "each member's own calendar" : "UTC"}`;
    document.body.dataset.loaded = `${days}:${calendar}`;
  } catch (error) {
    status.textContent = `Could not load the reports: ${error.message}`;
  }
}

document.getElementById("range").addEventListener("change", refresh);
document.getElementById("calendar").addEventListener("change", refresh);
refresh();
listen();

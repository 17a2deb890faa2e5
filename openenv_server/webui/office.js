// Ghostexec web view: plays episodes through the same /episodes routes as any HTTP client and
// draws GET /episodes/{id}/view (computed by the core, ghostexec/view.py). No framework, no build
// step, no request to any other host. Everything from the server is inserted as text, never HTML.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token");
const COMPONENTS = ["conflict", "task", "relationship", "shaping", "invalid_penalty", "idle_penalty"];
const COLORS = {
  conflict: "#2f5bd3", task: "#2e9d8f", relationship: "#d0802f", shaping: "#8a63c9",
  invalid_penalty: "#c62828", idle_penalty: "#7a7a7a",
};
const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

const state = {
  episode: null, // id of the live /episodes episode
  view: null, // last office view
  prev: null, // the view before the last step (for "what changed")
  busy: false,
  replay: null, // {header, steps, final, next, rows}
};

// --- HTTP ------------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, detail) {
    super(describeError(status, detail));
    this.status = status;
    this.detail = detail;
  }
}

function describeError(status, detail) {
  if (detail && typeof detail === "object") {
    const d = detail.detail !== undefined ? detail.detail : detail;
    if (Array.isArray(d)) return d.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ");
    if (d && typeof d === "object") return d.message || JSON.stringify(d);
    if (typeof d === "string") return d;
  }
  return `HTTP ${status}`;
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await res.json(); } catch (_) { data = null; }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// --- small DOM helpers -------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function hhmm(iso) { return iso ? iso.slice(11, 16) : ""; }
function minutes(iso) { return Date.parse(iso + ":00Z") / 60000; } // naive local time, read as UTC
function fmt(x, digits = 3) { return (x >= 0 ? "+" : "") + Number(x).toFixed(digits); }

function say(text, isError) {
  const box = $("message");
  box.textContent = text || "";
  box.classList.toggle("hidden", !text);
  box.classList.toggle("error", Boolean(isError));
}

// --- rendering ---------------------------------------------------------------------------------
function render(view) {
  $("st-task").textContent = `${view.task.id} (${view.task.difficulty}) · seed ${view.seed}`;
  $("st-clock").textContent = view.clock.replace("T", " ");
  $("st-step").textContent = `${view.step} / ${view.step_budget}` + (view.done ? " · over" : "");
  $("st-stress").textContent = String(view.stress);
  $("st-return").textContent = fmt(view["return"]);
  $("st-grade").textContent = view.grade ? Number(view.grade.score).toFixed(3) : "—";
  $("briefing").textContent = view.briefing;
  renderCalendar(view.calendar, view.conflicts);
  renderContacts(view.contacts, state.prev && state.prev.contacts);
  renderTasks(view.tasks);
  renderInbox(view.inbox);
  renderRewardChart(view.steps);
  renderStressChart(view.stress_history, view.step_budget);
  renderSteps(view.steps);
  renderChanges(view);
  renderActionForm(view.options);
}

function lanes(items) {
  // greedy interval colouring: an item goes to the first lane whose last item has ended
  const ends = [];
  return items.map((it) => {
    const s = minutes(it.start), e = minutes(it.end);
    let lane = ends.findIndex((end) => end <= s);
    if (lane < 0) { lane = ends.length; ends.push(e); } else ends[lane] = e;
    return lane;
  });
}

function renderCalendar(cal, conflicts) {
  const box = $("calendar");
  const W = 1000, left = 10, right = 10, top = 24, laneH = 38;
  const t0 = minutes(cal.window_start), t1 = Math.max(minutes(cal.window_end), t0 + 60);
  const x = (iso) => left + ((Math.min(Math.max(minutes(iso), t0), t1) - t0) / (t1 - t0)) * (W - left - right);
  const live = cal.items.filter((i) => i.status !== "cancelled");
  const cancelled = cal.items.filter((i) => i.status === "cancelled");
  const laneOf = lanes(live);
  const nLanes = Math.max(1, ...laneOf.map((l) => l + 1)) + (cancelled.length ? 1 : 0);
  const H = top + nLanes * laneH + 8;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "calendar timeline", "data-items": String(cal.items.length) });
  // hour grid
  for (let h = Math.ceil(t0 / 60) * 60; h <= t1; h += 60) {
    const iso = new Date(h * 60000).toISOString().slice(0, 16);
    const gx = x(iso);
    root.append(svg("line", { x1: gx, x2: gx, y1: top - 4, y2: H, stroke: "#e6e8ec" }));
    if (gx < W - right - 30) root.append(svg("text", { x: gx + 2, y: 13, "font-size": 11, fill: "#6b7280" }, hhmm(iso)));
  }
  // overlap spans of conflicts on the axis
  const byId = Object.fromEntries(cal.items.map((i) => [i.id, i]));
  for (const c of conflicts) {
    if (c.kind === "critical_unanswered") continue;
    const [a, b] = c.items.map((id) => byId[id]);
    if (!a || !b) continue;
    const s = a.start > b.start ? a.start : b.start, e = a.end < b.end ? a.end : b.end;
    root.append(svg("rect", { x: x(s), y: top - 4, width: Math.max(2, x(e) - x(s)), height: H - top + 4, fill: "#c62828", opacity: 0.08, class: "conflict-span" }));
  }
  const draw = (it, lane, extraClass) => {
    const y = top + lane * laneH;
    const x0 = x(it.start), x1 = x(it.end);
    const inConflict = it.conflicts.length > 0;
    const fill = it.kind === "personal" ? "#efe4fa" : it.importance === "critical" ? "#dfe6fb" : "#e8eefc";
    const g = svg("g", { class: `cal-item ${extraClass || ""} ${inConflict ? "in-conflict" : ""}`, "data-id": it.id });
    g.append(svg("title", {}, `${it.id} ${hhmm(it.start)}–${hhmm(it.end)} ${it.title}` +
      (it.with.length ? ` · with ${it.with.join(", ")}` : "") + (it.movable ? "" : " · fixed") +
      (it.outcome ? ` · ${it.outcome}` : "") + (inConflict ? ` · CONFLICT ${it.conflicts.join(", ")}` : "")));
    g.append(svg("rect", {
      x: x0, y, width: Math.max(3, x1 - x0), height: laneH - 6, rx: 4,
      fill: it.status === "cancelled" ? "#f4f4f4" : fill,
      stroke: inConflict ? "#c62828" : it.kind === "personal" ? "#7b3fb8" : "#2f5bd3",
      "stroke-width": inConflict ? 2.5 : 1, "stroke-dasharray": it.status === "cancelled" ? "5 3" : null,
      opacity: it.past || it.status === "cancelled" ? 0.5 : 1,
    }));
    const label = `${it.id} ${hhmm(it.start)} ${it.title}`;
    const maxChars = Math.max(0, Math.floor((x1 - x0 - 8) / 6.6));
    if (maxChars > 2) {
      g.append(svg("text", {
        x: x0 + 4, y: y + 20, "font-size": 12, fill: inConflict ? "#8e0000" : "#1d2330",
        "text-decoration": it.status === "cancelled" ? "line-through" : null,
      }, label.length > maxChars ? label.slice(0, maxChars - 1) + "…" : label));
    }
    root.append(g);
  };
  live.forEach((it, i) => draw(it, laneOf[i]));
  cancelled.forEach((it) => draw(it, nLanes - 1, "cancelled"));
  // now
  const nx = x(cal.now);
  root.append(svg("line", { x1: nx, x2: nx, y1: top - 8, y2: H, stroke: "#e53935", "stroke-width": 2, class: "now" }));
  root.append(svg("text", { x: nx + 3, y: H - 2, "font-size": 10, fill: "#e53935" }, `now ${hhmm(cal.now)}`));
  box.replaceChildren(root);

  const list = $("conflicts");
  list.replaceChildren();
  if (!conflicts.length) list.append(el("li", { class: "none", text: "No active conflicts." }));
  for (const c of conflicts) list.append(el("li", { "data-id": c.id, text: c.detail }));
  const later = $("later");
  later.replaceChildren();
  if (cal.later.length) {
    later.append("Later days: ");
    cal.later.forEach((it, i) => later.append(
      el("span", { class: "later-item", "data-id": it.id, text: `${it.id} ${it.start.slice(5, 10)} ${hhmm(it.start)}–${hhmm(it.end)} ${it.title}` }),
      i < cal.later.length - 1 ? " · " : "",
    ));
  }
}

function renderContacts(contacts, before) {
  const prevMood = Object.fromEntries((before || []).map((c) => [c.id, c.mood_level]));
  const box = $("contacts");
  box.replaceChildren();
  for (const c of contacts) {
    const was = prevMood[c.id];
    const delta = was === undefined ? 0 : c.mood_level - was;
    const trend = el("span", { class: `trend ${delta > 0 ? "up" : delta < 0 ? "down" : ""}`, text: delta > 0 ? "▲" : delta < 0 ? "▼" : "" });
    box.append(el("div", { class: `contact ${delta ? "changed" : ""}`, "data-id": c.id, title: `started ${c.mood_start} · prefers ${c.preferred_channel}, ${c.tone_preference} tone` + (c.capacity ? ` · workload ${c.load}/${c.capacity}` : "") },
      el("span", { class: `mood mood-${c.mood}`, text: c.mood }),
      trend,
      el("div", { class: "who" },
        el("div", {}, `${c.name} `, c.vip ? el("span", { class: "vip", text: "VIP" }) : null),
        el("div", { class: "role", text: `${c.id} · ${c.role}, ${c.organisation}` })),
    ));
  }
}

function renderTasks(tasks) {
  const body = $("tasks").tBodies[0];
  body.replaceChildren();
  for (const t of tasks) {
    let status = t.status.replace("_", " ");
    if (t.status === "delegated" && t.assignee) status += ` → ${t.assignee}`;
    if (t.status === "in_progress") status += ` ${t.progress_minutes}/${t.effort_minutes} min`;
    const due = t.overdue ? `${hhmm(t.deadline)} OVERDUE` : `${t.deadline.slice(5, 10)} ${hhmm(t.deadline)}`;
    body.append(el("tr", { class: t.status === "done" ? "done" : t.overdue ? "overdue" : "", "data-id": t.id },
      el("td", { text: t.id }),
      el("td", {}, `${t.title} `, el("span", { class: `pill ${t.priority}`, text: t.priority })),
      el("td", { text: due }),
      el("td", { text: status })));
  }
}

function renderInbox(inbox) {
  const body = $("inbox").tBodies[0];
  body.replaceChildren();
  for (const e of inbox) {
    const flag = e.replied ? "replied" : e.archived ? "archived" : e.read ? "" : "new";
    body.append(el("tr", { class: e.replied || e.archived ? "done" : "", "data-id": e.id },
      el("td", { text: e.id }), el("td", { text: e.from }),
      el("td", {}, `${e.subject} `, e.priority === "normal" ? null : el("span", { class: `pill ${e.priority}`, text: e.priority })),
      el("td", { text: flag })));
  }
}

function renderRewardChart(steps) {
  const W = 1000, H = 220, padL = 44, padR = 10, padT = 10, padB = 22;
  const n = Math.max(steps.length, 12);
  let hi = 0.05, lo = -0.05;
  for (const s of steps) {
    let pos = 0, neg = 0;
    for (const k of COMPONENTS) { const v = s.components[k] || 0; if (v > 0) pos += v; else neg += v; }
    hi = Math.max(hi, pos); lo = Math.min(lo, neg);
  }
  const y = (v) => padT + ((hi - v) / (hi - lo)) * (H - padT - padB);
  const bw = (W - padL - padR) / n;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "reward per step", "data-bars": String(steps.length) });
  for (const v of [hi, 0, lo]) {
    root.append(svg("line", { x1: padL, x2: W - padR, y1: y(v), y2: y(v), stroke: v === 0 ? "#9aa1ad" : "#eceef2" }));
    root.append(svg("text", { x: padL - 4, y: y(v) + 4, "font-size": 10, "text-anchor": "end", fill: "#6b7280" }, v.toFixed(2)));
  }
  steps.forEach((s, i) => {
    const g = svg("g", { class: "bar", "data-step": String(s.step) });
    const parts = COMPONENTS.map((k) => `${k} ${fmt(s.components[k] || 0)}`).join("\n");
    g.append(svg("title", {}, `step ${s.step}: reward ${fmt(s.reward)}\n${parts}` + (s.error ? `\ninvalid: ${s.error}` : "")));
    let up = 0, down = 0;
    for (const k of COMPONENTS) {
      const v = s.components[k] || 0;
      if (!v) continue;
      const from = v > 0 ? up : down, to = from + v;
      if (v > 0) up = to; else down = to;
      g.append(svg("rect", { x: padL + i * bw + bw * 0.15, width: bw * 0.7, y: y(Math.max(from, to)), height: Math.max(0.5, Math.abs(y(from) - y(to))), fill: COLORS[k] }));
    }
    // the total as a tick, so a bar whose parts cancel still shows its net
    g.append(svg("line", { x1: padL + i * bw + bw * 0.05, x2: padL + i * bw + bw * 0.95, y1: y(s.reward), y2: y(s.reward), stroke: "#1d2330", "stroke-width": 1.5 }));
    if (n <= 40) root.append(svg("text", { x: padL + i * bw + bw / 2, y: H - 6, "font-size": 10, "text-anchor": "middle", fill: "#6b7280" }, String(s.step)));
    root.append(g);
  });
  if (!steps.length) root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", fill: "#9aa1ad", "font-size": 13 }, "no steps yet"));
  $("reward-chart").replaceChildren(root);
  const legend = $("reward-legend");
  if (!legend.childElementCount) {
    for (const k of COMPONENTS) {
      const item = el("span", { text: k.replace("_", " ") });
      item.style.setProperty("--c", COLORS[k]);
      legend.append(item);
    }
    legend.append(el("span", { class: "muted", text: "— net reward" }));
  }
}

function renderStressChart(history, budget) {
  const W = 500, H = 220, padL = 34, padR = 10, padT = 10, padB = 22;
  const n = Math.max(budget, 1);
  const x = (s) => padL + (s / n) * (W - padL - padR);
  const y = (v) => padT + ((100 - v) / 100) * (H - padT - padB);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "stress over time", "data-points": String(history.length) });
  for (const v of [0, 25, 50, 75, 100]) {
    root.append(svg("line", { x1: padL, x2: W - padR, y1: y(v), y2: y(v), stroke: "#eceef2" }));
    root.append(svg("text", { x: padL - 4, y: y(v) + 4, "font-size": 10, "text-anchor": "end", fill: "#6b7280" }, String(v)));
  }
  root.append(svg("text", { x: W - padR, y: H - 6, "font-size": 10, "text-anchor": "end", fill: "#6b7280" }, `step ${n}`));
  root.append(svg("text", { x: padL, y: H - 6, "font-size": 10, fill: "#6b7280" }, "step 0"));
  root.append(svg("polyline", { points: history.map((p) => `${x(p.step)},${y(p.stress)}`).join(" "), fill: "none", stroke: "#c62828", "stroke-width": 2 }));
  for (const p of history) {
    const dot = svg("circle", { class: "pt", cx: x(p.step), cy: y(p.stress), r: 3, fill: "#c62828" });
    dot.append(svg("title", {}, `step ${p.step}: stress ${p.stress}`));
    root.append(dot);
  }
  $("stress-chart").replaceChildren(root);
}

function actionText(a) {
  const parts = [a.action_type];
  for (const k of ["email_id", "meeting_id", "task_id", "contact_id", "new_start", "channel"]) if (a[k]) parts.push(`${k}=${a[k]}`);
  for (const k of ["body", "reason", "note"]) if (a[k]) parts.push(`${k}="${String(a[k]).slice(0, 40)}${String(a[k]).length > 40 ? "…" : ""}"`);
  return parts.join(" ");
}

function renderSteps(steps) {
  const body = $("steps").tBodies[0];
  body.replaceChildren();
  for (const s of [...steps].reverse()) {
    body.append(el("tr", { class: s.error ? "overdue" : "" },
      el("td", { text: String(s.step) }), el("td", { text: hhmm(s.time) }), el("td", { text: actionText(s.action) }),
      el("td", { text: fmt(s.reward) }), el("td", { text: String(s.stress) }), el("td", { text: s.error || "" })));
  }
}

function renderChanges(view) {
  const list = $("changes");
  list.replaceChildren();
  const last = view.steps[view.steps.length - 1];
  if (!last) { list.append(el("li", { class: "muted", text: "Take a step to see what it changes." })); return; }
  if (last.error) list.append(el("li", { class: "bad", text: `invalid step: ${last.error}` }));
  for (const line of view.last_changes) list.append(el("li", { text: line }));
  for (const x of last.expectations) list.append(el("li", { text: `${x.met ? "✓ met" : "✗ missed"}: ${x.label}` }));
  if (!list.childElementCount) list.append(el("li", { class: "muted", text: "Nothing visible changed (time passed)." }));
}

// --- the action form: only ids the core says are valid -------------------------------------------
const FORM_LABELS = {
  reply_email: "Reply to an email", archive_email: "Archive an email", reschedule_meeting: "Reschedule a meeting",
  cancel_meeting: "Cancel a meeting", complete_task: "Work on / complete a task", delegate_task: "Delegate a task",
  send_message: "Send a message", do_nothing: "Do nothing (wait one step)",
};

function selectOf(name, choices, label) {
  const sel = el("select", { name, id: `f-${name}`, required: true });
  for (const c of choices) sel.append(el("option", { value: c.id ?? c, text: c.label ?? c }));
  return el("label", {}, label, sel);
}

function renderActionForm(options) {
  const typeSel = $("action-type");
  const current = typeSel.value;
  typeSel.replaceChildren();
  const types = options.done ? [] : [...options.action_types.filter((t) => t !== "do_nothing"), "do_nothing"];
  for (const t of types) typeSel.append(el("option", { value: t, text: FORM_LABELS[t] || t }));
  if (types.includes(current)) typeSel.value = current;
  typeSel.disabled = options.done;
  renderFields();
}

function updateButtons() {
  const options = state.view ? state.view.options : null;
  const replaying = Boolean(state.replay && state.replay.active);
  $("do-step").disabled = !state.episode || !options || options.done || !$("action-type").value || state.busy || replaying;
  $("start").disabled = state.busy;
}

function renderFields() {
  const box = $("action-fields");
  box.replaceChildren();
  const options = state.view ? state.view.options : null;
  const type = $("action-type").value;
  updateButtons();
  if (!options || !type) return;
  const text = (name, label, required) => el("label", {}, label, el("textarea", { name, id: `f-${name}`, required }));
  if (type === "reply_email" || type === "archive_email") box.append(selectOf("email_id", options[type], "Email"));
  if (type === "reply_email") box.append(text("body", "Reply", true));
  if (type === "reschedule_meeting" || type === "cancel_meeting") {
    box.append(selectOf("meeting_id", options[type], "Meeting"));
  }
  if (type === "reschedule_meeting") {
    const slots = () => (options.reschedule_meeting.find((m) => m.id === $("f-meeting_id").value) || { slots: [] }).slots;
    const slotLabel = el("label", {}, "New start (free slots)");
    const fill = () => {
      const sel = el("select", { name: "new_start", id: "f-new_start", required: true });
      for (const s of slots()) sel.append(el("option", { value: s, text: s.replace("T", " ") }));
      slotLabel.replaceChildren("New start (free slots)", sel);
    };
    $("f-meeting_id").addEventListener("change", fill);
    fill();
    box.append(slotLabel);
  }
  if (type === "cancel_meeting") box.append(el("label", {}, "Reason (optional; attendees take it better)", el("input", { type: "text", name: "reason", id: "f-reason" })));
  if (type === "complete_task") box.append(selectOf("task_id", options.complete_task, "Task"));
  if (type === "delegate_task") {
    box.append(selectOf("task_id", options.delegate_task, "Task"));
    const who = el("label", {}, "To");
    const fill = () => {
      const task = options.delegate_task.find((t) => t.id === $("f-task_id").value) || { contacts: [] };
      const sel = el("select", { name: "contact_id", id: "f-contact_id", required: true });
      for (const c of task.contacts) sel.append(el("option", { value: c.id, text: c.label + (c.good_fit ? " (good fit)" : " (outside their area)") }));
      who.replaceChildren("To", sel);
    };
    $("f-task_id").addEventListener("change", fill);
    fill();
    box.append(who, text("note", "Note (optional)", false));
  }
  if (type === "send_message") {
    box.append(selectOf("contact_id", options.send_message, "To"));
    const chan = el("select", { name: "channel", id: "f-channel" });
    const fill = () => {
      const c = options.send_message.find((x) => x.id === $("f-contact_id").value);
      chan.replaceChildren();
      for (const ch of options.channels) chan.append(el("option", { value: ch, text: ch + (c && c.preferred_channel === ch ? " (preferred)" : "") }));
      if (c) chan.value = c.preferred_channel;
    };
    $("f-contact_id").addEventListener("change", fill);
    fill();
    box.append(el("label", {}, "Channel", chan), text("body", "Message", true));
  }
}

function formAction() {
  const action = { action_type: $("action-type").value };
  for (const field of $("action-fields").querySelectorAll("select, input, textarea")) {
    const v = field.value;
    if (v !== "" && v !== undefined) action[field.name] = v;
  }
  return action;
}

// --- playing ---------------------------------------------------------------------------------
async function refresh() {
  const view = await api("GET", `/episodes/${encodeURIComponent(state.episode)}/view`);
  state.view = view;
  render(view);
  return view;
}

async function startEpisode(taskId, seed) {
  if (state.episode) api("DELETE", `/episodes/${encodeURIComponent(state.episode)}`).catch(() => {});
  const created = await api("POST", "/episodes", { task_id: taskId, seed });
  state.episode = created.id;
  state.prev = null;
  $("last-result").replaceChildren();
  return refresh();
}

async function step(action) {
  const before = state.view;
  const out = await api("POST", `/episodes/${encodeURIComponent(state.episode)}/step`, { action });
  state.prev = before;
  const view = await refresh();
  const ok = out.observation.step_ok;
  $("last-result").replaceChildren(
    el("span", { class: ok ? "good" : "bad", text: ok ? `✓ ${actionText(action)}` : `✗ invalid: ${out.observation.error}` }),
    el("div", { class: "muted", text: `reward ${fmt(out.reward)} · stress ${view.stress}` + (out.done ? ` · episode over, grade ${Number(view.grade.score).toFixed(3)}` : "") }),
  );
  return out;
}

async function guarded(fn) {
  if (state.busy) return;
  state.busy = true;
  updateButtons();
  try {
    say("");
    await fn();
  } catch (err) {
    say(err.message || String(err), true);
  } finally {
    state.busy = false;
    updateButtons();
  }
}

// --- replay ----------------------------------------------------------------------------------
function parseTrajectory(text) {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  if (!lines.length) throw new Error("the file is empty");
  const rows = lines.map((l, i) => {
    try { return JSON.parse(l); } catch (e) { throw new Error(`line ${i + 1}: not JSON (${e.message})`); }
  });
  const header = rows[0];
  if (!header || typeof header !== "object" || (header.type && header.type !== "header")) throw new Error("line 1: expected the header line");
  const taskId = header.task_id ?? header.task;
  if (typeof taskId !== "string") throw new Error("line 1: the header has no task_id");
  const steps = rows.slice(1).filter((r) => r && (r.type === "step" || (r.type === undefined && r.action)));
  const final = rows.find((r) => r && r.type === "final") || null;
  for (const [i, s] of steps.entries()) if (!s.action || typeof s.action !== "object") throw new Error(`step ${i + 1}: no action object`);
  return { header, taskId, seed: Number.isInteger(header.seed) ? header.seed : 0, steps, final };
}

function replayRow(i, action, cells, ok) {
  const row = el("tr", { class: ok ? "match" : "mismatch", "data-index": String(i) },
    el("td", { text: String(i + 1) }), el("td", { text: actionText(action) }), el("td", { text: cells.reward }), el("td", { text: cells.check }));
  $("replay-table").tBodies[0].append(row);
}

function compare(recorded, got) {
  const bad = [];
  for (const k of ["observation_hash", "state_hash"]) {
    if (recorded[k] !== undefined && got[k] !== undefined && recorded[k] !== got[k]) bad.push(`${k} ${String(got[k]).slice(0, 10)} ≠ recorded ${String(recorded[k]).slice(0, 10)}`);
  }
  if (typeof recorded.reward === "number" && typeof got.reward === "number" && Math.abs(recorded.reward - got.reward) > 1e-9) {
    bad.push(`reward ${fmt(got.reward)} ≠ recorded ${fmt(recorded.reward)}`);
  }
  return bad;
}

async function replayStart() {
  const r = state.replay;
  $("replay-table").tBodies[0].replaceChildren();
  r.next = 0; r.mismatches = 0; r.active = true;
  const view = await startEpisode(r.taskId, r.seed);
  const bad = compare(r.header, { observation_hash: view.observation_hash, state_hash: view.state_hash });
  r.mismatches += bad.length ? 1 : 0;
  replayRow(-1, { action_type: `reset ${r.taskId} seed ${r.seed}` }, { reward: "", check: bad.length ? `MISMATCH: ${bad.join("; ")}` : "✓ same start" }, !bad.length);
  updateReplayControls();
}

async function replayNext() {
  const r = state.replay;
  const rec = r.steps[r.next];
  let got;
  try {
    const out = await step(rec.action);
    got = { rejected: false, reward: out.reward, observation_hash: state.view.observation_hash, state_hash: state.view.state_hash };
  } catch (err) {
    if (!(err instanceof ApiError) || ![409, 422].includes(err.status)) throw err;
    got = { rejected: true, error: err.message };
  }
  const bad = [];
  if (rec.rejected !== undefined && Boolean(rec.rejected) !== got.rejected) bad.push(got.rejected ? `refused here (${got.error}) but taken in the recording` : "taken here but refused in the recording");
  if (!got.rejected) bad.push(...compare(rec, got));
  if (bad.length) r.mismatches += 1;
  const reward = got.rejected ? "refused" : `${fmt(got.reward)} / ${typeof rec.reward === "number" ? fmt(rec.reward) : "—"}`;
  replayRow(r.next, rec.action, { reward, check: bad.length ? `MISMATCH: ${bad.join("; ")}` : "✓ match" }, !bad.length);
  r.next += 1;
  if (r.next >= r.steps.length) finishReplay();
  updateReplayControls();
}

function finishReplay() {
  const r = state.replay;
  r.active = false;
  let tail = "";
  if (r.final && state.view) {
    const bad = compare(r.final, { state_hash: state.view.state_hash });
    const score = r.final.grade && typeof r.final.grade.score === "number" ? r.final.grade.score : null;
    if (score !== null && Math.abs(score - state.view.grade.score) > 1e-9) bad.push(`grade ${state.view.grade.score} ≠ recorded ${score}`);
    if (bad.length) r.mismatches += 1;
    tail = bad.length ? ` Final line: MISMATCH (${bad.join("; ")}).` : " Final state and grade match.";
  }
  $("replay-status").textContent = (r.mismatches ? `Replay done: ${r.mismatches} mismatch(es).` : "Replay done: every step matches the recording.") + tail;
}

function updateReplayControls() {
  const r = state.replay;
  $("replay-start").disabled = !r || state.busy;
  $("replay-next").disabled = !r || !r.active || r.next >= r.steps.length;
  $("replay-all").disabled = $("replay-next").disabled;
  if (r && r.active) $("replay-status").textContent = `step ${r.next} of ${r.steps.length} replayed` + (r.mismatches ? ` · ${r.mismatches} mismatch(es)` : "");
  updateButtons();
}

// --- wiring ----------------------------------------------------------------------------------
async function init() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t === tab);
      $("panel-play").classList.toggle("hidden", tab.dataset.panel !== "play");
      $("panel-replay").classList.toggle("hidden", tab.dataset.panel !== "replay");
      $("replay-card").classList.toggle("hidden", tab.dataset.panel !== "replay");
    });
  }
  $("action-type").addEventListener("change", renderFields);
  $("action-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const action = formAction(); // read before anything re-renders the form
    guarded(() => step(action));
  });
  $("start").addEventListener("click", () => {
    const seed = Number.parseInt($("seed").value, 10);
    if (!Number.isInteger(seed) || seed < 0) { say("seed: a whole number >= 0", true); return; }
    if (state.replay) state.replay.active = false;
    guarded(() => startEpisode($("task").value, seed));
  });
  $("replay-file").addEventListener("change", async () => {
    const file = $("replay-file").files[0];
    if (!file) return;
    try {
      const r = parseTrajectory(await file.text());
      state.replay = { ...r, next: 0, active: false, mismatches: 0 };
      const h = r.header;
      $("replay-summary").textContent = `${file.name}: task ${r.taskId}, seed ${r.seed}, ${r.steps.length} action(s)` +
        (h.policy ? `, policy ${h.policy}` : "") + (h.transport ? `, recorded over ${h.transport}` : "") +
        (r.final && r.final.grade ? `, recorded grade ${Number(r.final.grade.score).toFixed(3)}` : "") +
        ". Each action is sent to a new server episode and the hashes are compared.";
      $("replay-status").textContent = "loaded; press Start replay";
      say("");
    } catch (err) {
      state.replay = null;
      say(`Could not read the trajectory: ${err.message}`, true);
    }
    updateReplayControls();
  });
  $("replay-start").addEventListener("click", () => guarded(replayStart));
  $("replay-next").addEventListener("click", () => guarded(replayNext));
  $("replay-all").addEventListener("click", () => guarded(async () => {
    while (state.replay && state.replay.active && state.replay.next < state.replay.steps.length) await replayNext();
  }));
  $("task").addEventListener("change", showStory);
  window.addEventListener("pagehide", () => {
    if (!state.episode) return;
    const headers = TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {};
    fetch(`/episodes/${encodeURIComponent(state.episode)}`, { method: "DELETE", keepalive: true, headers }).catch(() => {});
  });
  try {
    const tasks = await api("GET", "/web/tasks");
    state.tasks = tasks;
    for (const t of tasks) $("task").append(el("option", { value: t.id, text: `${t.id} — ${t.title} (${t.difficulty}, ${t.step_budget} steps)` }));
    const preferred = tasks.find((t) => t.default);
    if (preferred) $("task").value = preferred.id;
    showStory();
  } catch (err) {
    say(err.status === 401 ? "This server needs a token: open the page as /web?token=YOUR_TOKEN." : `Could not load the tasks: ${err.message}`, true);
  }
  renderRewardChart([]);
}

function showStory() {
  const t = (state.tasks || []).find((x) => x.id === $("task").value);
  $("task-story").textContent = t ? t.description : "";
}

init();

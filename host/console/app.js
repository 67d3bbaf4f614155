// LiveDesk console: plain ES module, no framework, no build step. It talks
// to the agent API with the agent's token and listens on the realtime
// socket (/cable) with the agent's pubsub token; every view is rebuilt from
// the API, and live events patch what is on screen.

const ACCOUNT = "/api/v1/accounts/1";
const TOKEN_KEY = "livedesk.token";
const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  profile: null,
  inboxes: [],
  agents: [],
  teams: [],
  view: { tab: "mine", inbox: "", status: "open", label: "", priority: "", sort: "activity" },
  list: [],
  places: new Map(),
  meta: {},
  open: null, // the open conversation's id
  messages: [],
  socket: null,
  cursor: null,
};

// --- DOM helpers -----------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const svgNS = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(svgNS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, value);
  for (const child of children.flat()) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

function mount(node) {
  const app = document.getElementById("app");
  app.replaceChildren(node);
}

function when(epoch) {
  if (!epoch) return "";
  return new Date(epoch * 1000).toLocaleString();
}

function ago(epoch) {
  if (!epoch) return "";
  const seconds = Math.max(0, Math.round(Date.now() / 1000 - epoch));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

// --- API -------------------------------------------------------------------

class SignedOut extends Error {}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "api_access_token": state.token || "", "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : {};
  if (response.status === 401) throw new SignedOut(json.message || "not signed in");
  if (!response.ok) throw new Error(json.message || `${method} ${path}: ${response.status}`);
  return json;
}

const agentApi = (method, path, body) => api(method, ACCOUNT + path, body);

// --- Sign-in ---------------------------------------------------------------

function signIn(message = "") {
  closeSocket();
  const error = h("p", { class: "error", role: "alert", id: "signin-error" }, message);
  const input = h("input", { id: "token", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", {
    class: "signin",
    onsubmit: async (event) => {
      event.preventDefault();
      state.token = input.value.trim();
      try {
        await start();
      } catch (e) {
        state.token = null;
        sessionStorage.removeItem(TOKEN_KEY);
        error.textContent = e instanceof SignedOut ? "That token is not valid." : e.message;
      }
    },
  },
    h("h1", {}, "LiveDesk"),
    h("label", { for: "token" }, "Agent token"),
    input,
    error,
    h("button", { class: "primary", type: "submit", id: "signin" }, "Sign in"),
  );
  mount(form);
  input.focus();
}

function signOut() {
  state.token = null;
  state.profile = null;
  sessionStorage.removeItem(TOKEN_KEY);
  location.hash = "";
  signIn();
}

async function start() {
  const profile = await api("GET", "/api/v1/profile");
  state.profile = profile;
  sessionStorage.setItem(TOKEN_KEY, state.token);
  const [inboxes, agents, teams] = await Promise.all([
    agentApi("GET", "/inboxes"),
    agentApi("GET", "/agents"),
    agentApi("GET", "/teams"),
  ]);
  state.inboxes = inboxes.payload || [];
  state.agents = agents || [];
  state.teams = teams.payload || teams || [];
  openSocket();
  route();
}

// --- Realtime socket -------------------------------------------------------

function closeSocket() {
  if (state.socket) {
    state.socket.onclose = null;
    state.socket.close();
    state.socket = null;
  }
}

function openSocket() {
  closeSocket();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/cable`, "actioncable-v1-json");
  const identifier = { channel: "RoomChannel", pubsub_token: state.profile.pubsub_token, user_id: state.profile.id };
  if (state.cursor !== null) identifier.since = state.cursor;
  socket.onopen = () => socket.send(JSON.stringify({ command: "subscribe", identifier: JSON.stringify(identifier) }));
  socket.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "confirm_subscription" && state.cursor === null) state.cursor = frame.cursor;
    if (!frame.message) return;
    if (frame.message.cursor) state.cursor = frame.message.cursor;
    live(frame.message.event, frame.message.data);
  };
  // Reconnects and resumes from the last cursor: nothing is missed.
  socket.onclose = () => setTimeout(() => state.token && state.profile && openSocket(), 1000);
  state.socket = socket;
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => loadList().catch(report), 150);
}

function live(event, data) {
  switch (event) {
    case "message.created":
      if (data.conversation_id === state.open) appendMessage(data);
      refreshSoon();
      break;
    case "message.updated":
      if (data.conversation_id === state.open) replaceMessage(data);
      break;
    case "conversation.created":
    case "conversation.updated":
    case "conversation.status_changed":
    case "assignee.changed":
    case "team.changed":
    case "queue.updated":
      refreshSoon();
      if (state.open && (data.id === state.open || data.conversation_id === state.open)) loadConversationDetails().catch(report);
      break;
    case "presence.update":
      updatePresence(data.users || {});
      break;
    case "resync_required":
      refreshSoon();
      break;
    default:
      break;
  }
}

// --- Layout ----------------------------------------------------------------

function frame(active, content) {
  const link = (hash, text, id) => h("a", { href: hash, id, "aria-current": active === id ? "page" : false }, text);
  return h("div", {},
    h("header", { class: "top" },
      h("h1", {}, "LiveDesk"),
      h("nav", { "aria-label": "Main" },
        link("#/inbox", "Inbox", "nav-inbox"),
        link("#/reports", "Reports", "nav-reports"),
        link("#/operations", "Operations", "nav-operations"),
      ),
      presenceControl(),
      h("span", {}, state.profile.name),
      h("button", { id: "signout", onclick: signOut }, "Sign out"),
    ),
    h("main", {}, content),
  );
}

function me() {
  return state.agents.find((a) => a.id === state.profile.id) || {};
}

function presenceControl() {
  const mine = me();
  const select = h("select", {
    id: "availability",
    "aria-label": "Availability",
    onchange: async () => {
      await api("POST", "/api/v1/profile/availability", { profile: { availability: select.value } });
      state.agents = await agentApi("GET", "/agents");
      document.getElementById("load")?.replaceWith(loadLabel());
      document.querySelector(".presence .dot").className = `dot ${select.value}`;
    },
  }, ["online", "busy", "offline"].map((v) => h("option", { value: v, selected: mine.availability_status === v }, v)));
  return h("div", { class: "presence" },
    h("span", { class: `dot ${mine.availability_status || "offline"}`, "aria-hidden": "true" }),
    select,
    loadLabel(),
  );
}

function loadLabel() {
  const mine = me();
  return h("span", { id: "load", title: "Open conversations / capacity" },
    `${mine.open_conversations ?? 0} / ${mine.capacity ?? "∞"}`);
}

function updatePresence(users) {
  for (const agent of state.agents) {
    if (users[agent.id]) agent.availability_status = users[agent.id];
  }
  const select = document.getElementById("availability");
  const mine = me();
  if (select && mine.availability_status) {
    select.value = mine.availability_status;
    document.querySelector(".presence .dot").className = `dot ${mine.availability_status}`;
  }
}

function report(error) {
  if (error instanceof SignedOut) return signOut();
  console.warn(error);
  const banner = document.getElementById("problem");
  if (banner) banner.textContent = error.message;
}

// --- Router ----------------------------------------------------------------

function route() {
  if (!state.profile) return signIn();
  const [, page, id] = location.hash.split("/");
  if (page === "reports") return showReports().catch(report);
  if (page === "operations") return showOperations().catch(report);
  state.open = page === "conversation" ? Number(id) : null;
  return showInbox().catch(report);
}

window.addEventListener("hashchange", route);

// --- Inbox -----------------------------------------------------------------

async function showInbox() {
  const listPane = h("section", { class: "pane list-pane", "aria-label": "Conversations" },
    tabs(), filters(), h("ul", { class: "list", id: "conversations", role: "listbox", "aria-label": "Conversations" }));
  const detail = h("section", { class: "pane", id: "detail", "aria-label": "Conversation" },
    h("p", { class: "empty" }, "Pick a conversation."));
  mount(frame("nav-inbox", h("div", {},
    h("p", { class: "error", id: "problem", role: "alert" }),
    h("div", { class: `workspace${state.open ? " open" : ""}` }, listPane, detail))));
  await loadList();
  if (state.open) await showConversation(state.open);
}

function tabs() {
  const tab = (name, label) => h("button", {
    role: "tab", id: `tab-${name}`, "aria-selected": state.view.tab === name ? "true" : "false",
    onclick: () => { state.view.tab = name; showInbox().catch(report); },
  }, label, " ", h("span", { class: "badge", id: `count-${name}` }, "…"));
  return h("div", { class: "tabs", role: "tablist" }, tab("mine", "Mine"), tab("unassigned", "Unassigned"), tab("all", "All"));
}

function filters() {
  const v = state.view;
  const pick = (id, label, options, key) => h("label", { for: id }, label,
    h("select", { id, onchange: (e) => { v[key] = e.target.value; loadList().catch(report); } },
      options.map(([value, text]) => h("option", { value, selected: v[key] === value }, text))));
  return h("div", { class: "filters" },
    pick("filter-inbox", "Channel", [["", "All channels"], ...state.inboxes.map((i) => [String(i.id), i.name])], "inbox"),
    pick("filter-status", "Status", [["open", "Open"], ["pending", "Pending"], ["snoozed", "Snoozed"], ["resolved", "Resolved"], ["all", "Any"]], "status"),
    pick("filter-priority", "Priority", [["", "Any"], ["urgent", "Urgent"], ["high", "High"], ["medium", "Medium"], ["low", "Low"]], "priority"),
    h("label", { for: "filter-label" }, "Label",
      h("input", { id: "filter-label", value: v.label, placeholder: "any", onchange: (e) => { v.label = e.target.value.trim(); loadList().catch(report); } })),
    pick("filter-sort", "Sort", [["activity", "Last activity"], ["waiting", "Waiting longest"]], "sort"),
  );
}

async function loadList() {
  const v = state.view;
  // The agent API names "mine" `me`, as Chatwoot's does.
  const query = new URLSearchParams({ assignee_type: v.tab === "mine" ? "me" : v.tab, status: v.status });
  if (v.inbox) query.set("inbox_id", v.inbox);
  if (v.label) query.set("labels", v.label);
  if (v.priority) query.set("priority", v.priority);
  if (v.sort === "waiting") query.set("sort_by", "waiting_since");
  const [answer, queue] = await Promise.all([agentApi("GET", `/conversations?${query}`), agentApi("GET", "/queue")]);
  state.places = new Map((queue.payload || []).map((q) => [q.conversation_id, q.position]));
  state.meta = answer.data.meta;
  state.list = answer.data.payload;
  renderList();
}

function renderList() {
  const ul = document.getElementById("conversations");
  if (!ul) return;
  for (const [tab, key] of [["mine", "mine_count"], ["unassigned", "unassigned_count"], ["all", "all_count"]]) {
    const badge = document.getElementById(`count-${tab}`);
    if (badge) badge.textContent = state.meta[key] ?? 0;
  }
  const inboxName = (id) => state.inboxes.find((i) => i.id === id)?.name || "";
  const rows = state.list.map((c) => {
    const last = (c.messages || [])[0];
    const unread = c.unread_count > 0 && c.id !== state.open;
    return h("li", {
      role: "option", tabindex: "0", id: `conversation-${c.id}`,
      class: unread ? "unread" : "",
      "aria-selected": c.id === state.open ? "true" : "false",
      onclick: () => { location.hash = `#/conversation/${c.id}`; },
      onkeydown: (e) => { if (e.key === "Enter") location.hash = `#/conversation/${c.id}`; },
    },
      h("span", { class: "who" }, c.meta?.sender?.name || `Contact ${c.meta?.sender?.id ?? ""}`),
      h("span", {},
        state.places.has(c.id) ? h("span", { class: "badge", id: `place-${c.id}`, title: "Place in the queue" }, `queue #${state.places.get(c.id)}`) : null, " ",
        unread ? h("span", { class: "badge unread", title: "Unread" }, c.unread_count) : null, " ",
        h("span", { class: "badge" }, ago(c.timestamp))),
      h("span", { class: "snippet" }, `#${c.id} · ${inboxName(c.inbox_id)} · ${c.status}`,
        c.priority ? ` · ${c.priority}` : "", (c.labels || []).length ? ` · ${c.labels.join(", ")}` : "",
        last ? ` — ${last.content}` : ""),
    );
  });
  ul.replaceChildren(...(rows.length ? rows : [h("li", { class: "empty" }, "No conversations here.")]));
}

// --- Conversation ----------------------------------------------------------

async function showConversation(id) {
  const [conversation, messages] = await Promise.all([
    agentApi("GET", `/conversations/${id}`),
    agentApi("GET", `/conversations/${id}/messages`),
  ]);
  state.messages = messages.payload || [];
  const detail = document.getElementById("detail");
  const thread = h("div", { class: "thread", id: "thread", "aria-label": "Messages", role: "log" }, state.messages.map(messageView));
  detail.replaceChildren(h("div", { class: "conversation" },
    h("div", { class: "thread-wrap" }, actions(conversation), thread, compose(id)),
    h("aside", { class: "details", id: "details", "aria-label": "Details" }),
  ));
  thread.scrollTop = thread.scrollHeight;
  await loadConversationDetails(conversation);
}

function messageView(m) {
  const kind = m.private ? "note"
    : m.message_type === 2 ? "activity"
    : m.message_type === 3 ? "template"
    : m.message_type === 0 ? "incoming"
    : m.sender?.type === "agent_bot" ? "bot" : "outgoing";
  const who = { note: "Private note", activity: "Activity", template: "LiveDesk", incoming: m.sender?.name || "Customer", bot: m.sender?.name || "AI agent", outgoing: m.sender?.name || "Agent" }[kind];
  return h("div", { class: `msg ${kind}`, id: `message-${m.id}`, "data-kind": kind },
    h("span", { class: "meta" }, `${who} · ${when(m.created_at)}`), m.content);
}

function appendMessage(m) {
  const thread = document.getElementById("thread");
  if (!thread || document.getElementById(`message-${m.id}`)) return;
  const atBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 40;
  thread.append(messageView(m));
  if (atBottom) thread.scrollTop = thread.scrollHeight;
}

function replaceMessage(m) {
  document.getElementById(`message-${m.id}`)?.replaceWith(messageView(m));
}

function actions(c) {
  const toggle = (status, label, extra = {}) => h("button", {
    id: `status-${status}`,
    onclick: async () => {
      await agentApi("POST", `/conversations/${c.id}/toggle_status`, { status, ...extra() });
      await showConversation(c.id);
    },
  }, label);
  const until = h("input", { type: "datetime-local", id: "snooze-until", "aria-label": "Snooze until" });
  const assign = h("select", {
    id: "assign", "aria-label": "Assign to",
    onchange: async () => {
      const [kind, value] = assign.value.split(":");
      const body = kind === "agent" ? { assignee_id: value ? Number(value) : null } : { team_id: Number(value) };
      await agentApi("POST", `/conversations/${c.id}/assignments`, body);
      await showConversation(c.id);
    },
  },
    h("option", { value: "agent:" }, "Unassigned"),
    state.agents.map((a) => h("option", { value: `agent:${a.id}`, selected: c.meta?.assignee?.id === a.id && c.meta?.assignee_type === "User" }, a.name)),
    state.teams.map((t) => h("option", { value: `team:${t.id}` }, `Team ${t.name}`)),
  );
  return h("div", { class: "actions" },
    h("strong", {}, `#${c.id} · ${c.status}`),
    c.status === "resolved" ? toggle("open", "Reopen", () => ({})) : toggle("resolved", "Resolve", () => ({})),
    c.status !== "pending" ? toggle("pending", "Mark pending", () => ({})) : null,
    until,
    toggle("snoozed", "Snooze", () => (until.value ? { snoozed_until: Math.floor(new Date(until.value).getTime() / 1000) } : {})),
    assign,
  );
}

function compose(id) {
  const text = h("textarea", { id: "reply", "aria-label": "Message", placeholder: "Reply… (Enter sends, Shift+Enter for a new line)" });
  const note = h("input", { type: "checkbox", id: "private" });
  const send = async () => {
    const content = text.value.trim();
    if (!content) return;
    text.value = "";
    const message = await agentApi("POST", `/conversations/${id}/messages`, { content, private: note.checked });
    appendMessage(message);
  };
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send().catch(report); }
  });
  return h("form", { class: "compose", onsubmit: (e) => { e.preventDefault(); send().catch(report); } },
    text,
    h("div", { class: "row" },
      h("label", { for: "private" }, note, " Private note"),
      h("button", { class: "primary", type: "submit", id: "send" }, "Send")));
}

async function loadConversationDetails(known) {
  const id = state.open;
  if (!id) return;
  const c = known || await agentApi("GET", `/conversations/${id}`);
  const [decisions, surveys] = await Promise.all([
    agentApi("GET", `/conversations/${id}/decisions`),
    agentApi("GET", `/csat_survey_responses?since=0`),
  ]);
  const details = document.getElementById("details");
  if (!details) return;
  const contact = c.meta?.sender || {};
  const attributes = Object.entries(contact.custom_attributes || {});
  const survey = (surveys || []).find((s) => s.conversation_id === id);
  details.replaceChildren(...[
    h("h3", {}, "Contact"),
    h("dl", { class: "kv" },
      h("dt", {}, "Name"), h("dd", {}, contact.name || "—"),
      h("dt", {}, "Email"), h("dd", {}, contact.email || "—"),
      h("dt", {}, "Phone"), h("dd", {}, contact.phone_number || "—"),
      h("dt", {}, "Identifier"), h("dd", {}, contact.identifier || "—"),
      attributes.map(([k, v]) => [h("dt", {}, k), h("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))]),
    ),
    h("h3", {}, "Conversation"),
    h("dl", { class: "kv" },
      h("dt", {}, "Assignee"), h("dd", { id: "assignee" }, c.meta?.assignee?.name || "nobody"),
      h("dt", {}, "Team"), h("dd", {}, c.meta?.team?.name || "—"),
      h("dt", {}, "Labels"), h("dd", {}, (c.labels || []).join(", ") || "—"),
      h("dt", {}, "Priority"), h("dd", {}, c.priority || "—"),
      h("dt", {}, "Opened"), h("dd", {}, when(c.created_at)),
    ),
    survey ? [h("h3", {}, "CSAT"), h("p", { id: "csat" }, `${"★".repeat(survey.rating)} (${survey.rating}/5)`, survey.feedback_message ? ` — ${survey.feedback_message}` : "")] : null,
    h("h3", {}, "Why am I seeing this?"),
    whyPanel(decisions.payload || []),
  ].flat().filter(Boolean));
}

function whyPanel(decisions) {
  if (!decisions.length) return h("p", { class: "why", id: "why" }, "Not routed yet.");
  return h("div", { class: "why", id: "why" }, decisions.map((d) => h("div", {},
    h("p", {}, h("strong", {}, `${d.tier}: ${d.outcome}`), ` · ${new Date(d.created_at).toLocaleString()} · revision ${d.revision}`),
    traceView(d.trace))));
}

function traceView(trace) {
  if (!trace || typeof trace !== "object") return null;
  const parts = [];
  if (trace.tier) parts.push(h("p", {}, `Decided by: ${trace.tier}`));
  if (trace.within_hours !== undefined) parts.push(h("p", {}, trace.within_hours ? "Within business hours." : "Outside business hours."));
  if (Array.isArray(trace.rules) && trace.rules.length) {
    parts.push(h("ol", {}, trace.rules.map((r) => h("li", { class: r.matched ? "matched" : "" },
      `${r.rule || "rule"}: ${r.matched ? "matched" : "no match"}`,
      (r.conditions || []).length ? h("ul", {}, r.conditions.map((c) => h("li", {},
        `${c.condition || "condition"}`,
        c.observed !== undefined && c.observed !== null ? ` (saw ${JSON.stringify(c.observed)})` : "",
        ` → ${typeof c.result === "object" ? JSON.stringify(c.result) : String(c.result)}`))) : null))));
  }
  const a = trace.assignment;
  if (a) {
    parts.push(h("p", {}, `Policy ${a.policy || "—"}; picked ${a.picked || "nobody"}.`));
    if (Array.isArray(a.candidates) && a.candidates.length) {
      parts.push(h("table", {}, h("tr", {}, h("th", {}, "Candidate"), h("th", {}, "Availability"), h("th", {}, "Load"), h("th", {}, "Eligible")),
        a.candidates.map((c) => h("tr", {}, h("td", {}, c.agent), h("td", {}, c.availability),
          h("td", {}, `${c.open_conversations}/${c.capacity ?? "∞"}`), h("td", {}, c.eligible ? "yes" : "no")))));
    }
  }
  for (const note of trace.notes || []) parts.push(h("p", {}, note));
  return parts.length ? parts : h("pre", {}, JSON.stringify(trace, null, 2));
}

// --- Reports ---------------------------------------------------------------

async function showReports() {
  const today = new Date();
  const monthAgo = new Date(today.getTime() - 30 * 86400e3);
  const since = h("input", { type: "date", id: "since", value: monthAgo.toISOString().slice(0, 10) });
  const until = h("input", { type: "date", id: "until", value: today.toISOString().slice(0, 10) });
  const channel = h("select", { id: "report-inbox", "aria-label": "Channel" },
    h("option", { value: "" }, "All channels"), state.inboxes.map((i) => h("option", { value: i.id }, i.name)));
  const agent = h("select", { id: "report-agent", "aria-label": "Agent" },
    h("option", { value: "" }, "All agents"), state.agents.map((a) => h("option", { value: a.id }, a.name)));
  const out = h("div", { id: "report" });
  const load = async () => {
    const range = new URLSearchParams({
      since: Math.floor(new Date(since.value).getTime() / 1000),
      until: Math.floor(new Date(until.value).getTime() / 1000) + 86400,
    });
    if (channel.value) range.set("inbox_id", channel.value);
    const metricsQuery = new URLSearchParams(range);
    if (agent.value) metricsQuery.set("user_id", agent.value);
    const [metrics, responses, summary] = await Promise.all([
      agentApi("GET", `/csat_survey_responses/metrics?${metricsQuery}`),
      agentApi("GET", `/csat_survey_responses?${range}`),
      agentApi("GET", `/reports/summary?${range}`),
    ]);
    out.replaceChildren(reportView(metrics, responses, summary));
  };
  mount(frame("nav-reports", h("div", {},
    h("p", { class: "error", id: "problem", role: "alert" }),
    h("form", { class: "range", onsubmit: (e) => { e.preventDefault(); load().catch(report); } },
      h("label", { for: "since" }, "From", since), h("label", { for: "until" }, "To", until),
      h("label", { for: "report-inbox" }, "Channel", channel), h("label", { for: "report-agent" }, "Agent", agent),
      h("button", { class: "primary", type: "submit", id: "report-show" }, "Show")),
    out)));
  await load();
}

function percent(x) {
  return x === null || x === undefined ? "—" : `${Math.round(x * 1000) / 10}%`;
}

function reportView(metrics, responses, summary) {
  // The totals are at the top level, next to `by_channel` and `by_agent`.
  const t = metrics;
  const card = (id, label, value) => h("div", { class: "card", id }, h("div", { class: "value" }, value), h("div", { class: "label" }, label));
  const byTable = (title, rows) => h("div", {}, h("h3", {}, title), h("table", {},
    h("tr", {}, h("th", {}, ""), h("th", {}, "Sent"), h("th", {}, "Responses"), h("th", {}, "Average"), h("th", {}, "Satisfied")),
    Object.entries(rows || {}).map(([name, f]) => h("tr", {}, h("td", {}, name), h("td", {}, f.sent), h("td", {}, f.responses),
      h("td", {}, f.average_rating?.toFixed?.(2) ?? "—"), h("td", {}, percent(f.satisfaction_score))))));
  return h("div", {},
    h("h2", {}, "Customer satisfaction"),
    h("div", { class: "cards" },
      card("csat-sent", "Surveys sent", t.sent ?? 0),
      card("csat-responses", "Responses", t.responses ?? 0),
      card("csat-rate", "Response rate", percent(t.response_rate)),
      card("csat-average", "Average rating", t.average_rating?.toFixed?.(2) ?? "—"),
      card("csat-score", "Satisfaction score", percent(t.satisfaction_score))),
    h("div", { class: "charts" },
      h("figure", {}, h("figcaption", {}, "Ratings"), barChart(t.distribution || {})),
      h("figure", {}, h("figcaption", {}, "Daily average rating"), trendChart(responses || []))),
    byTable("By channel", metrics.by_channel),
    byTable("By agent", metrics.by_agent),
    h("h2", {}, "Summary"),
    h("div", { class: "cards" },
      card("summary-conversations", "Conversations", summary.conversations_count ?? 0),
      card("summary-resolutions", "Resolutions", summary.resolutions_count ?? 0),
      card("summary-first-response", "Avg first response", duration(summary.avg_first_response_time)),
      card("summary-resolution", "Avg resolution", duration(summary.avg_resolution_time))),
    h("div", { class: "charts" },
      countTable("By status", summary.by_status), countTable("By channel", summary.by_channel), countTable("By agent", summary.by_agent)),
  );
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 90) return `${Math.round(seconds)}s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}m`;
  return `${Math.round(seconds / 360) / 10}h`;
}

function countTable(title, rows) {
  return h("div", {}, h("h3", {}, title), h("table", {},
    Object.entries(rows || {}).map(([name, n]) => h("tr", {}, h("td", {}, name), h("td", {}, n)))));
}

function barChart(distribution) {
  const counts = [1, 2, 3, 4, 5].map((r) => distribution[String(r)] || 0);
  const max = Math.max(1, ...counts);
  const w = 300, hgt = 160, bar = 40;
  return s("svg", { viewBox: `0 0 ${w} ${hgt + 30}`, width: w, height: hgt + 30, role: "img", id: "chart-distribution", "aria-label": `Ratings: ${counts.map((c, i) => `${i + 1} star ${c}`).join(", ")}` },
    counts.map((c, i) => {
      const height = Math.round((c / max) * hgt);
      const x = 20 + i * (bar + 16);
      return s("g", {},
        s("rect", { x, y: hgt - height, width: bar, height, fill: "#1f6feb", "data-rating": i + 1, "data-count": c }),
        s("text", { x: x + bar / 2, y: hgt + 14, "text-anchor": "middle" }, `${i + 1}★`),
        s("text", { x: x + bar / 2, y: Math.max(12, hgt - height - 4), "text-anchor": "middle" }, c));
    }));
}

function trendChart(responses) {
  const days = new Map();
  for (const r of responses) {
    if (!r.created_at || !r.rating) continue;
    const day = new Date(r.created_at * 1000).toISOString().slice(0, 10);
    const [sum, n] = days.get(day) || [0, 0];
    days.set(day, [sum + r.rating, n + 1]);
  }
  const points = [...days.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([day, [sum, n]]) => [day, sum / n]);
  const w = 320, hgt = 160;
  if (!points.length) return s("svg", { viewBox: `0 0 ${w} 40`, width: w, height: 40, id: "chart-trend", role: "img", "aria-label": "No answers in this range" }, s("text", { x: 10, y: 24 }, "No answers in this range"));
  const x = (i) => 20 + (points.length === 1 ? (w - 40) / 2 : (i * (w - 40)) / (points.length - 1));
  const y = (v) => 10 + ((5 - v) / 4) * (hgt - 20);
  const path = points.map(([, v], i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  return s("svg", { viewBox: `0 0 ${w} ${hgt + 24}`, width: w, height: hgt + 24, id: "chart-trend", role: "img", "aria-label": points.map(([d, v]) => `${d}: ${v.toFixed(2)}`).join(", ") },
    s("path", { d: path, fill: "none", stroke: "#1f6feb", "stroke-width": 2 }),
    points.map(([day, v], i) => s("g", {}, s("circle", { cx: x(i), cy: y(v), r: 3, fill: "#1f6feb" }),
      s("text", { x: x(i), y: hgt + 18, "text-anchor": "middle" }, day.slice(5)))));
}

// --- Operations ------------------------------------------------------------

async function showOperations() {
  const [ready, dead, metrics] = await Promise.all([
    fetch("/readyz").then((r) => r.json()),
    agentApi("GET", "/webhooks/dead"),
    fetch("/metrics").then((r) => r.text()),
  ]);
  const queues = [...metrics.matchAll(/^livedesk_queue_length\{channel="([^"]*)"\} (\d+)/gm)].map((m) => [m[1], Number(m[2])]);
  const events = dead.payload || dead || [];
  mount(frame("nav-operations", h("div", {},
    h("p", { class: "error", id: "problem", role: "alert" }),
    h("h2", {}, "Configuration"),
    h("p", { id: "revision" }, `Active revision ${ready.revision} · storage ${ready.status}`),
    h("h2", {}, "Queues"),
    h("table", { id: "queues" }, h("tr", {}, h("th", {}, "Channel"), h("th", {}, "Waiting")),
      queues.map(([c, n]) => h("tr", {}, h("td", {}, c), h("td", {}, n)))),
    h("h2", {}, "Dead webhook events"),
    events.length ? h("table", { id: "dead" },
      h("tr", {}, h("th", {}, "Event"), h("th", {}, "Kind"), h("th", {}, "Attempts"), h("th", {}, "Last error"), h("th", {}, "")),
      events.map((e) => h("tr", {}, h("td", {}, e.id), h("td", {}, e.kind || e.event), h("td", {}, e.attempts), h("td", {}, e.last_error || ""),
        h("td", {}, h("button", { id: `replay-${e.id}`, onclick: async () => { await agentApi("POST", `/webhooks/dead/${e.id}/replay`); await showOperations(); } }, "Replay")))))
      : h("p", { class: "empty", id: "dead" }, "No dead events."),
  )));
}

// --- Start -----------------------------------------------------------------

if (state.token) start().catch((e) => signIn(e instanceof SignedOut ? "Signed out." : e.message));
else signIn();

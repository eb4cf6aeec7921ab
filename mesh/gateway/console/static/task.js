// A task's page: its input and output, status, delegation tree, timeline of events,
// partial results and streamed model output as they come, usage; and what an operator
// can do to it (steer or answer, cancel, approve or reject, replay a dead letter).
import { TERMINAL, attempt, el, follow, getJSON, postJSON, statusBadge, taskLink, when } from "./api.js";
import { decide } from "./approvals.js";

// Every kind of task event (schemas/tasks.py EventKind): the SSE `event:` names.
export const EVENT_KINDS = [
  "submitted", "started", "progress", "delegated", "steered", "retry_scheduled", "waiting",
  "succeeded", "failed", "cancelled", "dead_lettered", "replayed", "redispatched", "superseded",
  "worker_lost", "parked", "cancel_requested", "rerouted", "resumed", "expired", "held",
  "model_called", "model_waiting", "approval_expired",
];

export function showTask(view, id) {
  const url = `/v1/tasks/${encodeURIComponent(id)}`;
  const tree = new Map(); // task id -> document, for the tasks of this task's tree
  const output = new Map(); // model answer id -> its text so far
  const part = (name, title) => el("section", { class: name }, el("h2", {}, title));
  const sections = {
    summary: el("section", { class: "summary" }),
    actions: part("actions", "Actions"),
    io: part("io", "Input and output"),
    progress: part("partial", "Partial results"),
    output: part("output", "Model output (live)"),
    tree: part("tree", "Delegation tree"),
    usage: part("usage", "Tokens and cost"),
    letters: part("letters", "Dead letters"),
    timeline: part("timeline", "Timeline"),
  };
  const timeline = el("ol", { class: "events" });
  sections.timeline.append(timeline);
  sections.output.append(el("pre", { class: "tokens" }));
  sections.output.hidden = true; // until a model streams its answer
  view.append(el("h1", {}, "Task ", el("code", {}, id)), ...Object.values(sections));
  const streams = {}; // `events` (the task's own) and `tree` (its tree's changes)
  let task = null;
  let fetching = null; // the read under way; `again`: changes came meanwhile
  let again = false;
  let lastEventId = null; // of the last event shown

  function refresh() { // one read at a time: a burst of events costs two reads, not one each
    if (fetching) { again = true; return fetching; }
    fetching = load().finally(() => { fetching = null; if (again) { again = false; refresh(); } });
    return fetching;
  }

  async function load() {
    const before = task && task.status;
    task = await getJSON(url);
    tree.set(task.task_id, task);
    render();
    if (task.status === "dead_lettered" && before !== task.status) showDeadLetters();
  }

  function render() {
    renderSummary(sections.summary, task);
    renderActions(sections.actions, task, followEvents);
    renderIO(sections.io, task);
    replace(sections.progress, task.progress.length
      ? el("ol", {}, task.progress.map((p) => el("li", {}, el("time", {}, when(p.at)), " ", p.message,
        Object.keys(p.data).length ? el("code", {}, JSON.stringify(p.data)) : null)))
      : el("p", { class: "none" }, "none yet"));
    replace(sections.tree, treeOf(tree, task.root_task_id || task.task_id, task.task_id));
    replace(sections.usage, usageTable(task.usage_total || task.usage));
    sections.letters.hidden = task.status !== "dead_lettered";
  }

  async function showDeadLetters() {
    const { dead_letters } = await getJSON(`${url}/dead-letters`);
    replace(sections.letters, el("ul", {}, dead_letters.map((d) => el("li", {},
      el("strong", {}, d.reason), ` (${d.error_type || "?"}: ${d.error_message || ""}; attempts ${d.attempts ?? "?"}, id ${d.id})`))));
  }

  function onEvent(event, eventId) {
    lastEventId = eventId;
    timeline.append(el("li", { "data-kind": event.kind }, el("time", {}, when(event.at)), " ",
      el("strong", {}, event.kind), " ", describe(event)));
    if (TERMINAL.has(event.status)) streams.events.close(); // else the browser would reconnect
    refresh();
  }

  function onToken(token) {
    sections.output.hidden = false;
    output.set(token.message_id, (output.get(token.message_id) || "") + token.text);
    sections.output.querySelector("pre").textContent = [...output.values()].join("\n\n");
  }

  // The task's events from the first; after a replay (a new run) from the last shown.
  function followEvents() {
    if (streams.events) streams.events.close();
    const handlers = Object.fromEntries(EVENT_KINDS.map((kind) => [kind, onEvent]));
    const after = lastEventId ? `?after=${encodeURIComponent(lastEventId)}` : "";
    streams.events = follow(`${url}/events${after}`, { ...handlers, token: onToken });
  }

  refresh().then(() => {
    followEvents();
    const root = task.root_task_id || task.task_id;
    streams.tree = follow(`/v1/task-updates?root=${encodeURIComponent(root)}`, {
      ready: async () => {
        const page = await getJSON(`/v1/tasks?root=${encodeURIComponent(root)}&limit=1000`);
        for (const member of page.tasks) tree.set(member.task_id, member);
        render();
      },
      task: (member) => { tree.set(member.task_id, member); member.task_id === id ? refresh() : render(); },
    });
  }).catch((error) => view.append(el("p", { class: "error" }, error.message)));
  return () => Object.values(streams).forEach((source) => source.close());
}

function replace(section, ...content) {
  section.replaceChildren(section.querySelector("h2"), ...content);
}

function renderSummary(section, task) {
  section.replaceChildren(el("dl", {},
    ...[["status", statusBadge(task.status)], ["agent", task.agent], ["attempt", String(task.attempt)],
      ["parent", task.parent_task_id ? taskLink(task.parent_task_id) : "none"],
      ["created", when(task.created_at)], ["started", when(task.started_at)], ["finished", when(task.finished_at)],
      ["waiting for", task.waiting_for], ["held", task.held]]
      .filter(([, value]) => value)
      .flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)])));
}

function renderActions(section, task, replayed) {
  const message = el("p", { class: "error" });
  const running = !TERMINAL.has(task.status);
  const text = el("input", { name: "steer", placeholder: task.status === "waiting" ? "your answer" : "a follow-up instruction" });
  const buttons = [];
  if (running) {
    buttons.push(el("form", { class: "steer", onsubmit: (e) => {
      e.preventDefault();
      attempt(message, async () => { await postJSON(`/v1/tasks/${task.task_id}/messages`, { text: text.value }); text.value = ""; });
    } }, text, el("button", {}, task.status === "waiting" && !task.approval ? "Answer (resume)" : "Steer")));
    buttons.push(el("button", { class: "danger", onclick: () => attempt(message, async () => {
      await postJSON(`/v1/tasks/${task.task_id}/cancel`, { reason: "cancelled from the console" });
    }) }, "Cancel"));
  }
  if (task.approval) {
    buttons.push(el("p", {}, `Approval asked: ${task.approval.subject}`));
    for (const decision of ["approve", "reject"]) {
      buttons.push(el("button", { onclick: () => attempt(message, () => decide(task.task_id, decision)) }, decision));
    }
  }
  if (task.status === "dead_lettered") {
    buttons.push(el("button", { onclick: () => attempt(message, async () => {
      await postJSON(`/v1/tasks/${task.task_id}/replay`);
      replayed();
    }) }, "Replay dead letter"));
  }
  replace(section, ...(buttons.length ? buttons : [el("p", { class: "none" }, "it has ended")]), message);
}

function renderIO(section, task) {
  const outcome = task.error ? `${task.error.type}: ${task.error.message}` : task.result ? JSON.stringify(task.result, null, 2) : "(not yet)";
  replace(section, el("h3", {}, "input"), el("pre", {}, JSON.stringify(task.input, null, 2)),
    el("h3", {}, task.error ? "error" : "result"), el("pre", { class: task.error ? "error" : "result" }, outcome));
}

function treeOf(tree, id, current) {
  const node = tree.get(id);
  const children = [...tree.values()].filter((t) => t.parent_task_id === id)
    .sort((a, b) => a.created_at.localeCompare(b.created_at));
  return el("ul", {}, el("li", { class: id === current ? "current" : null, "data-tree-task": id },
    taskLink(id), node ? [" ", node.agent, " ", statusBadge(node.status)] : null,
    children.length ? children.map((child) => treeOf(tree, child.task_id, current)) : null));
}

function usageTable(lines) {
  if (!lines || !lines.length) return el("p", { class: "none" }, "no model calls");
  const head = ["agent", "model", "calls", "input tokens", "output tokens", "cost (USD)"];
  return el("table", {}, el("tr", {}, head.map((h) => el("th", {}, h))),
    lines.map((u) => el("tr", {}, [u.agent, u.model, u.calls, u.input_tokens, u.output_tokens, u.cost_usd.toFixed(4)]
      .map((v) => el("td", {}, String(v))))));
}

function describe(event) {
  if (event.progress) return event.progress.message;
  if (event.child_task_id) return [taskLink(event.child_task_id), ` (${event.child_agent})`];
  if (event.error) return `${event.error.type}: ${event.error.message}`;
  if (event.steer) return `"${event.steer.text}"`;
  if (event.usage) return `${event.usage.model}: ${event.usage.input_tokens}+${event.usage.output_tokens} tokens`;
  return event.waiting_for || event.held || (event.attempt ? `attempt ${event.attempt}` : "");
}

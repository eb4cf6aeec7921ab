// The live task list: newest first, filtered by status, agent (and tenant, where tasks
// carry one); rows come and change as `/v1/task-updates` says, without a reload.
import { el, follow, getJSON, statusBadge, taskLink, when } from "./api.js";

const STATUSES = ["submitted", "running", "retrying", "waiting", "succeeded", "failed", "cancelled", "dead_lettered"];
const SHOWN = 200;

export function showTasks(view, params) {
  const filters = { status: params.get("status") || "", agent: params.get("agent") || "" };
  const tenant = params.get("tenant") || "";
  const tasks = new Map(); // task id -> its document, as last seen
  const rows = el("tbody");
  const agents = el("datalist", { id: "agent-names" });
  const tenants = el("select", { name: "tenant", hidden: true, onchange: () => go("tenant", tenants.value) });

  function go(name, value) {
    const next = new URLSearchParams({ ...filters, tenant });
    next.set(name, value);
    for (const [key, v] of [...next]) if (!v) next.delete(key);
    location.hash = `#/tasks?${next}`;
  }

  function render() {
    const shown = [...tasks.values()]
      .filter((task) => !tenant || task.tenant === tenant)
      .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.task_id.localeCompare(a.task_id))
      .slice(0, SHOWN);
    rows.replaceChildren(...shown.map(row));
    const names = new Set([...tasks.values()].map((task) => task.agent));
    agents.replaceChildren(...[...names].sort().map((name) => el("option", { value: name })));
    const owners = [...new Set([...tasks.values()].map((task) => task.tenant).filter(Boolean))].sort();
    tenants.hidden = owners.length === 0; // tasks carry no tenant: nothing to choose
    tenants.replaceChildren(el("option", { value: "" }, "any tenant"),
      ...owners.map((name) => el("option", { value: name, selected: name === tenant }, name)));
  }

  async function load() {
    const query = new URLSearchParams({ limit: SHOWN });
    for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
    const page = await getJSON(`/v1/tasks?${query}`);
    for (const task of page.tasks) tasks.set(task.task_id, task);
    render();
  }

  const statusSelect = el("select", { name: "status", onchange: (e) => go("status", e.target.value) },
    el("option", { value: "" }, "any status"),
    ...STATUSES.map((s) => el("option", { value: s, selected: s === filters.status }, s)));
  const agentInput = el("input", { name: "agent", list: "agent-names", placeholder: "any agent",
    value: filters.agent, onchange: (e) => go("agent", e.target.value.trim()) });
  view.append(
    el("h1", {}, "Tasks"),
    el("form", { class: "filters", onsubmit: (e) => e.preventDefault() }, statusSelect, agentInput, agents, tenants),
    el("table", { class: "tasks" },
      el("thead", {}, el("tr", {}, ...["created", "task", "agent", "status", "latest progress", "attempt"].map((h) => el("th", {}, h)))),
      rows),
  );

  const query = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
  const source = follow(`/v1/task-updates?${query}`, {
    ready: () => load(), // every change after `ready` comes on the stream
    reset: () => { tasks.clear(); load(); },
    task: (task) => { tasks.set(task.task_id, task); render(); },
    gone: ({ task_id }) => { tasks.delete(task_id); render(); },
  });
  return () => source.close();
}

function row(task) {
  const latest = task.progress.at(-1);
  return el("tr", { "data-task": task.task_id },
    el("td", {}, when(task.created_at)),
    el("td", {}, taskLink(task.task_id)),
    el("td", {}, task.agent),
    el("td", {}, statusBadge(task.status)),
    el("td", { class: "progress" }, latest ? latest.message : task.held || task.waiting_for || ""),
    el("td", {}, String(task.attempt)));
}

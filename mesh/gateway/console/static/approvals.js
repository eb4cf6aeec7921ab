// The approvals inbox: what waits for a person's approval, across agents; approve or
// reject it. It reloads whenever a task starts or stops waiting (`/v1/task-updates`).
import { attempt, el, follow, getJSON, postJSON, taskLink, when } from "./api.js";
import { session } from "./signin.js";

// Who decides: the signed-in name with auth on; else asked once, remembered by the browser.
function decider() {
  if (session.auth && session.name) return session.name;
  let name = localStorage.getItem("console.by");
  if (!name) {
    name = prompt("Your name (kept with your decisions):", "console") || "console";
    localStorage.setItem("console.by", name);
  }
  return name;
}

export function decide(taskId, decision) {
  return postJSON(`/v1/approvals/${encodeURIComponent(taskId)}/${decision}`, { by: decider(), note: "from the console" });
}

export function showApprovals(view) {
  const list = el("tbody");
  const message = el("p", { class: "error" });
  async function load() {
    const { approvals } = await getJSON("/v1/approvals");
    list.replaceChildren(...approvals.map((a) => el("tr", { "data-task": a.task_id },
      el("td", {}, taskLink(a.task_id)), el("td", {}, a.agent), el("td", {}, a.subject),
      el("td", {}, el("code", {}, JSON.stringify(a.details))), el("td", {}, when(a.expires_at)),
      el("td", {}, ["approve", "reject"].map((decision) => el("button", {
        onclick: () => attempt(message, async () => { await decide(a.task_id, decision); await load(); }),
      }, decision))))));
    if (!approvals.length) list.append(el("tr", {}, el("td", { colspan: 6, class: "none" }, "nothing waits for approval")));
  }
  view.append(el("h1", {}, "Approvals"), message, el("table", {},
    el("thead", {}, el("tr", {}, ["task", "agent", "asks", "details", "expires", ""].map((h) => el("th", {}, h)))), list));
  // Reload when a task starts waiting (`task`), or stops (`gone`).
  const source = follow("/v1/task-updates?status=waiting", { ready: load, task: load, gone: load });
  return () => source.close();
}

// The count beside "Approvals" in the header, kept current.
export async function countApprovals(badge) {
  const { approvals } = await getJSON("/v1/approvals").catch(() => ({ approvals: [] }));
  badge.textContent = approvals.length ? `(${approvals.length})` : "";
  setTimeout(() => countApprovals(badge), 5000);
}

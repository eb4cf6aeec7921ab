// The console's router: `#/tasks`, `#/tasks/<id>`, `#/approvals`, `#/agents`.
import { showAgents } from "./agents.js";
import { showApprovals, countApprovals } from "./approvals.js";
import { showTask } from "./task.js";
import { showTasks } from "./tasks.js";

let leave = () => {}; // what the page shown now must close (streams, timers)

function route() {
  leave();
  const view = document.getElementById("view");
  view.replaceChildren();
  const [path, query] = (location.hash.slice(1) || "/tasks").split("?");
  const params = new URLSearchParams(query || "");
  const [, page, id] = path.split("/");
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("current", link.dataset.nav === page);
  }
  if (page === "tasks" && id) leave = showTask(view, decodeURIComponent(id));
  else if (page === "approvals") leave = showApprovals(view);
  else if (page === "agents") leave = showAgents(view);
  else leave = showTasks(view, params);
}

window.addEventListener("hashchange", route);
route();
countApprovals(document.getElementById("approvals-count"));

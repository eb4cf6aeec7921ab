// The console's router: `#/tasks`, `#/tasks/<id>`, `#/approvals`, `#/schedules`,
// `#/agents`; with auth on, the sign-in form first (and again on any 401).
import { el, onUnauthorized } from "./api.js";
import { showAgents } from "./agents.js";
import { showApprovals, countApprovals } from "./approvals.js";
import { showSchedules } from "./schedules.js";
import { session, showSignIn, signOut, whoAmI } from "./signin.js";
import { showTask } from "./task.js";
import { showTasks } from "./tasks.js";

let leave = () => {}; // what the page shown now must close (streams, timers)
let signingIn = false;
const view = document.getElementById("view");
const nav = document.querySelector("header nav");
const who = document.getElementById("who");

function route() {
  if (signingIn) return;
  leave();
  view.replaceChildren();
  const [path, query] = (location.hash.slice(1) || "/tasks").split("?");
  const params = new URLSearchParams(query || "");
  const [, page, id] = path.split("/");
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("current", link.dataset.nav === page);
  }
  if (page === "tasks" && id) leave = showTask(view, decodeURIComponent(id));
  else if (page === "approvals") leave = showApprovals(view);
  else if (page === "schedules") leave = showSchedules(view);
  else if (page === "agents") leave = showAgents(view);
  else leave = showTasks(view, params);
}

function signIn() {
  if (signingIn) return;
  signingIn = true;
  leave();
  leave = () => {};
  nav.hidden = true;
  who.replaceChildren();
  showSignIn(view, () => { signingIn = false; start(); });
}

function showWho() {
  if (!session.auth) {
    who.replaceChildren(el("span", { class: "none" }, "auth off: anyone reaching the gateway may use it"));
    return;
  }
  const tenant = session.tenant ? ` (tenant ${session.tenant})` : " (every tenant)";
  const out = el("button", { type: "button", onclick: async () => { await signOut().catch(() => {}); signIn(); } }, "Sign out");
  who.replaceChildren(el("span", { "data-who": session.name }, `${session.name}${tenant}`), " ", out);
}

let counting = false;
async function start() {
  const me = await whoAmI();
  if (me.auth && !me.name) { signIn(); return; }
  nav.hidden = false;
  showWho();
  route();
  if (!counting) { counting = true; countApprovals(document.getElementById("approvals-count")); }
}

onUnauthorized(signIn);
window.addEventListener("hashchange", route);
start();

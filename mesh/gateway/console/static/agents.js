// Agent types: live workers, lag, circuits; the supervisors' tasks at risk and recent
// actions (`GET /v1/agents`), read again every few seconds; which are paused, and
// pause or resume one (`admin`: the switch holds the type for every tenant).
import { attempt, el, getJSON, postJSON, taskLink } from "./api.js";
import { may } from "./signin.js";

const EVERY = 3000; // ms

export function showAgents(view) {
  const body = el("div");
  const message = el("p", { class: "error" });
  view.append(el("h1", {}, "Agents"), message, body);
  let timer = null;
  function flip(name, action) {
    return attempt(message, async () => {
      await postJSON(`/v1/agents/${encodeURIComponent(name)}/${action}`, action === "pause" ? { reason: "from the console" } : {});
      await load();
    });
  }
  async function load() {
    clearTimeout(timer);
    try {
      body.replaceChildren(...render(await getJSON("/v1/agents"), flip));
    } catch (error) {
      body.replaceChildren(el("p", { class: "error" }, error.message));
    }
    timer = setTimeout(load, EVERY);
  }
  load();
  return () => clearTimeout(timer);
}

function paused(agent, flip) {
  const button = (action) => may("admin") ? el("button", { onclick: () => flip(agent.name, action) }, action === "pause" ? "Pause" : "Resume") : null;
  if (!agent.paused) return el("td", { "data-paused": "no" }, button("pause"));
  const by = agent.pause.by ? ` by ${agent.pause.by}` : "";
  const why = agent.pause.reason ? `: ${agent.pause.reason}` : "";
  return el("td", { "data-paused": "yes", class: "open", title: `since ${new Date(agent.pause.at * 1000).toLocaleString()}${by}${why}` },
    "paused ", button("resume"));
}

function render(overview, flip) {
  const head = ["agent", "takes", "live workers", "in flight", "lag", "circuit", "paused"];
  const rows = overview.agents.map((a) => el("tr", { "data-agent": a.name },
    el("td", { title: a.description }, a.name),
    el("td", {}, [a.task_type, ...a.events].filter(Boolean).join(", ")),
    el("td", {}, a.live_workers === null ? "?" : String(a.live_workers)),
    el("td", {}, overview.supervisors.length ? String(a.workers.reduce((sum, w) => sum + w.inflight, 0)) : "?"),
    el("td", {}, a.lag === null ? "?" : String(a.lag)),
    el("td", { class: a.circuit && a.circuit.state !== "closed" ? "open" : "" },
      a.circuit ? `${a.circuit.state}${a.circuit.reason ? `: ${a.circuit.reason}` : ""}` : "closed"),
    paused(a, flip)));
  const supervisors = overview.supervisors.length
    ? `supervisors reporting: ${overview.supervisors.join(", ")}`
    : "no supervisor has reported in the last 30 s: live workers, tasks at risk and actions are unknown";
  const action = (a) => el("li", {}, el("time", {}, new Date(a.at * 1000).toLocaleTimeString()), " ",
    taskLink(a.task_id), ` ${a.agent} ${a.problem}: ${a.reason}`);
  const risk = (r) => el("li", {}, taskLink(r.task_id), ` ${r.agent} ${r.problem}: ${r.reason}`);
  return [
    el("table", {}, el("tr", {}, head.map((h) => el("th", {}, h))), rows),
    el("p", { class: "none" }, supervisors),
    el("h2", {}, "At risk"),
    overview.at_risk.length ? el("ul", {}, overview.at_risk.map(risk)) : el("p", { class: "none" }, "none"),
    el("h2", {}, "Recent supervisor actions"),
    overview.recent_actions.length ? el("ol", {}, overview.recent_actions.slice().reverse().map(action)) : el("p", { class: "none" }, "none"),
  ];
}

// Schedules (`GET /v1/schedules`): cron, time zone, agent, overlap, paused, next fire
// and last tick, what the ticks did; pause, resume or delete one (`operate` scope).
// Read again every few seconds, and after each action.
import { attempt, el, getJSON, postJSON, request, taskLink } from "./api.js";
import { may } from "./signin.js";

const EVERY = 5000; // ms

const at = (seconds) => (seconds === null ? "-" : new Date(seconds * 1000).toLocaleString());

export function showSchedules(view) {
  const body = el("div");
  const message = el("p", { class: "error" });
  view.append(el("h1", {}, "Schedules"), message, body);
  let timer = null;
  async function load() {
    clearTimeout(timer);
    try {
      const { schedules } = await getJSON("/v1/schedules");
      body.replaceChildren(render(schedules, act));
    } catch (error) {
      body.replaceChildren(el("p", { class: "error" }, error.message));
    }
    timer = setTimeout(load, EVERY);
  }
  function act(name, action) {
    const path = `/v1/schedules/${encodeURIComponent(name)}`;
    return attempt(message, async () => {
      if (action === "delete") {
        if (!confirm(`Delete schedule ${name}? No tick of it fires again.`)) return;
        await request("DELETE", path);
      } else await postJSON(`${path}/${action}`);
      await load();
    });
  }
  load();
  return () => clearTimeout(timer);
}

function render(schedules, act) {
  if (!schedules.length) {
    return el("p", { class: "none" }, "no schedules (`mesh schedule add NAME --cron ... --agent ...` adds one)");
  }
  const head = ["name", "cron", "time zone", "agent", "overlap", "state", "next fire", "last tick", "submitted / skipped", "last task", ""];
  const buttons = (s) => may("operate") ? [
    el("button", { onclick: () => act(s.name, s.paused ? "resume" : "pause") }, s.paused ? "Resume" : "Pause"),
    el("button", { class: "danger", onclick: () => act(s.name, "delete") }, "Delete"),
  ] : [];
  const rows = schedules.map((s) => el("tr", { "data-schedule": s.name },
    el("td", {}, s.name),
    el("td", {}, el("code", {}, s.cron)),
    el("td", {}, s.tz),
    el("td", {}, s.agent),
    el("td", {}, s.overlap),
    el("td", { "data-state": s.paused ? "paused" : "active", class: s.paused ? "open" : "" },
      s.paused ? "paused" : "active", s.last_error ? el("div", { class: "error" }, s.last_error) : null),
    el("td", { class: "next" }, at(s.next_fire)),
    el("td", {}, at(s.last_tick)),
    el("td", {}, `${s.submitted} / ${s.skipped}`),
    el("td", {}, s.last_task_id ? taskLink(s.last_task_id) : "-"),
    el("td", { class: "switches" }, buttons(s))));
  return el("table", {}, el("tr", {}, head.map((h) => el("th", {}, h))), rows);
}

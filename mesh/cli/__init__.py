"""The `mesh` command. `main` builds the parser from each command group: `_services`
(run, broker, dev, gateway), `_tasks` (submit, tasks, task, steer, resume, cancel,
publish), `_agents` (agents, pause, resume), `_dlq`, `_supervisor`, `_schemas`;
`support` is what they and `mesh dev` share (usage errors, agent specs, a connected
client, with `_broker_diagnosis` of a failed connection)."""

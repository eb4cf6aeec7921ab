"""The runtime: what runs inside one worker process of an agent type.

Reading order: `worker` (the consume loop of one member of the agent type's group; its
parts are private modules beside it, listed in its docstring), `runner` (one task:
deadline, retries; `_outcomes` writes how it ended), `offsets` (commit below the lowest
in-flight offset), `journal` and `fence` (exactly-once steps and child re-attach across
rebalances), `lifecycle` (task events and state), `publisher` (every write, traced),
`liveness` (heartbeats), `circuit` (circuits the supervisor opened), `background_writes`
(writes off the consume loop, and when to give up), `ingress` (a domain record from any
producer as an envelope), `gc_tuning` (the collector settings a long-lived worker wants).
"""

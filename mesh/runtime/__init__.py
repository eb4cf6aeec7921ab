"""The runtime: what runs inside one worker process of an agent type (or several).

Used by the rest of the mesh: `worker` (`Worker`, the consume loop of one member of the
agent type's group), `worker_group` (several agent types' workers in one process, with
one control reader, ADR 052), `publisher` (every write, traced), `lifecycle` (task events and
state), `journal` and `fence` (exactly-once steps and child re-attach across
rebalances), `gc_tuning` (the collector settings a long-lived process wants),
`pod_deletion_cost` (a worker pod's deletion cost on Kubernetes, ADR 038).

Private to it, in reading order: the worker's parts (listed in its docstring),
`_runner` (one task: deadline, handler, retries; `_outcomes` writes how it ended),
`_offsets` (commit below the lowest in-flight offset), `_liveness` (heartbeats),
`_circuit` (circuits the supervisor opened), `_background_writes` (writes off the
consume loop, and when to give up), `_ingress` (a domain record from any producer as
an envelope).
"""

"""The supervisor's machinery: failure detection and re-routing with no central router.

Public: `policy` (what an agent type tolerates), `core` (the `Supervisor`: every
decision, over its tables, records in and records out; no faust) and `app` (the
faust-streaming adapter that feeds the core and sends what it returns; the only module
here that imports faust). The deployable agent is `agents/supervisor`.

Private, in reading order: `_tracking` (leases, workers and the rules that find
problems; pure), `_actions` (what to publish about each), `_circuits` (circuit
breaking per agent type), `_status` (the operator's snapshot), `_records` (reading the
tables' bytes), `_lag` (consumer lag, retry and dead-letter depth from the broker's
offsets, measured for every agent type), `_recovery_watch` (reading a changelog
partition again when faust's table restore stalls on it).
"""

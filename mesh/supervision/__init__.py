"""The supervisor's machinery: failure detection and re-routing with no central router.

Reading order: `policy` (what an agent type tolerates), `tracking` (leases, workers
and the rules that find problems; pure), `actions` (what to publish about each),
`circuits` (circuit breaking per agent type), `status` (the operator's snapshot),
`records` (reading the tables' bytes), `core` (the `Supervisor`: all of the above
over its tables, records in and records out; no faust), `app` (the faust-streaming
adapter that feeds the core and sends what it returns; the only module here that
imports faust), `lag` (consumer lag, retry and dead-letter depth from the broker's
offsets, measured by the supervisor for every agent type). The deployable agent is
`agents/supervisor`.
"""

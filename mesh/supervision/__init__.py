"""The supervisor's machinery: failure detection and re-routing with no central router.

Reading order: `policy` (what an agent type tolerates), `tracking` (leases, workers
and the rules that find problems; pure), `actions` (what to publish about each),
`status` (the operator's snapshot), `app` (the faust-streaming app that runs it all;
the only module here that imports faust). The deployable agent is `agents/supervisor`.
"""

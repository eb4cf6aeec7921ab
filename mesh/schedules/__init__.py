"""Schedules (ADR 040): cron expressions that submit tasks on time, once per tick.

Reading order: `timing` (ticks, jitter and the overlap policy, as plain functions),
`records` (where a schedule's records go on the compacted schedules topic), `scheduler`
(the service that owns some schedules' partitions and fires their ticks), `operate`
(what `mesh schedule add|list|pause|resume|delete` does).
"""

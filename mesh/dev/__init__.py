"""The development mesh (`make dev`, `mesh dev`): `broker` (the embedded Tansu broker),
`devserver` (broker, reference agents, supervisor and gateway in one command),
`env_file` (the `.mesh/dev.env` other commands find it by); `_readiness` and `_banner`
say when it is up and what to try."""

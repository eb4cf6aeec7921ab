"""Dead letters: `write` sends a failed record there with its reason; `operate` lists,
shows, replays and purges them (the `mesh dlq` commands and the gateway use it)."""

"""Views: local, always-current copies of compacted topics, read without a group.

`follower` reads topics from their start and keeps following; `tasks` builds the task
state and agent-card view on it that `Client` and the gateway answer from.
"""

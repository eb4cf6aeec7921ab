"""`ThreadLocks`: one asyncio lock per thread id, kept only while someone holds it."""

from __future__ import annotations

import asyncio
import weakref


class ThreadLocks:
    """Serializes this process's decisions about one thread (e.g. two requests that
    would both pass a `reject` check). A lock lives while a holder references it, so
    idle threads cost nothing."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __call__(self, thread_id: str) -> asyncio.Lock:
        lock = self._locks.get(thread_id)
        if lock is None:
            lock = self._locks[thread_id] = asyncio.Lock()
        return lock

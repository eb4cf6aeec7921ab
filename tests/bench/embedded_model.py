"""The embedded model's numbers for the README: load time, resident memory, tokens/s.

    .venv/bin/python -m tests.bench.embedded_model [--requests 5] [--max-tokens 64]

Starts `mesh model-server` as its own process (so its memory is the server's alone),
then asks it the same kind of short question several times with the `openai` client.
Tokens/s is llama.cpp's own decode rate (`timings.predicted_per_second`) and, as a
client sees it, completion tokens over the request's wall time.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time

import openai
import psutil

READY = re.compile(r"serving at (\S+) .*ready in ([\d.]+) s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mesh", "model-server"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the server prints it is ready
        found = READY.search(line)
        assert found, line
        to_ready = time.monotonic() - started
        print(f"process start to ready: {to_ready:.2f} s (load + /health: {found.group(2)} s)")
        print(f"resident after load: {psutil.Process(proc.pid).memory_info().rss / 2**20:.0f} MB")
        client = openai.OpenAI(base_url=found.group(1), api_key="unused", max_retries=0)
        decode, wall = [], []
        for i in range(args.requests):
            begun = time.monotonic()
            answer = client.chat.completions.create(
                model="SmolLM2-135M-Instruct",
                messages=[{"role": "user", "content": f"Write a short story about ship {i}."}],
                max_tokens=args.max_tokens,
            )
            seconds = time.monotonic() - begun
            assert answer.usage is not None
            decode.append(float((answer.model_extra or {})["timings"]["predicted_per_second"]))
            wall.append(answer.usage.completion_tokens / seconds)
        print(
            f"decode: median {statistics.median(decode):.0f} tokens/s "
            f"(min {min(decode):.0f}, max {max(decode):.0f}) over {args.requests} requests"
        )
        print(f"client-side: median {statistics.median(wall):.0f} completion tokens/s")
        print(
            f"resident after requests: {psutil.Process(proc.pid).memory_info().rss / 2**20:.0f} MB"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()

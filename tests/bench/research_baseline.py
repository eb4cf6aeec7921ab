"""The synchronous, blocking baseline of the research workflow: one process runs
workflows one at a time, each model call a blocking `openai.OpenAI` request.

    python -m tests.bench.research_baseline URL --workflows 100 --subagents 3 --label x

The same calls as tests/bench/research_agents.py (its prompt functions): a plan, the
subagents' calls one after another, a synthesis. After its imports and one untimed
call (the connection), it prints `ready` and waits for a line on stdin, so that the
benchmark starts its processes' clocks together; then it prints one JSON line:
`{"seconds": ..., "calls": ...}`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import openai

from tests.bench.research_agents import (
    Question,
    Subtask,
    plan_prompt,
    subtask_prompt,
    synthesis_prompt,
)

MODEL = "bench-slow"


def workflow(client: openai.OpenAI, question: Question) -> int:
    """One research workflow, every step blocking; returns its model calls."""
    calls = 0

    def ask(prompt: str) -> str:
        nonlocal calls
        calls += 1
        completion = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": prompt}]
        )
        return completion.choices[0].message.content or ""

    ask(plan_prompt(question))
    findings = []
    for index in range(question.subagents):
        subtask = Subtask(question=question.text, index=index, calls=question.calls_per_subagent)
        notes: list[str] = []
        for call in range(subtask.calls):
            notes.append(ask(subtask_prompt(subtask, call, notes)))
        findings.append(" ".join(notes))
    ask(synthesis_prompt(question, findings))
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.research_baseline")
    parser.add_argument("url", help="the model's OpenAI base URL")
    parser.add_argument("--workflows", type=int, required=True)
    parser.add_argument("--subagents", type=int, required=True)
    parser.add_argument("--label", required=True, help="in every prompt")
    args = parser.parse_args()
    client = openai.OpenAI(base_url=args.url, api_key="unused", max_retries=0, timeout=120)
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "warm"}])
    print("ready", flush=True)
    sys.stdin.readline()
    began = time.perf_counter()
    calls = sum(
        workflow(client, Question(text=f"{args.label}-{n}", subagents=args.subagents))
        for n in range(args.workflows)
    )
    print(json.dumps({"seconds": time.perf_counter() - began, "calls": calls}), flush=True)


if __name__ == "__main__":
    main()

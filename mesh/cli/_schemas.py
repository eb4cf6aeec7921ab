"""`mesh schemas export|check`: the JSON Schema snapshots of the contracts."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def cmd_schemas(args: argparse.Namespace) -> int:
    from mesh._contracts import import_contracts
    from mesh.settings import load_settings
    from schemas import snapshots

    import_contracts(load_settings())  # the application's, with snapshots of their own
    if args.action == "export":
        for path in snapshots.export():
            print(path)
        return 0
    problems = snapshots.check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            "run `mesh schemas export` for additive changes; a breaking change needs a "
            "new version and an upcaster",
            file=sys.stderr,
        )
    return 1 if problems else 0


def add_schemas_parser(sub: Any) -> None:
    schemas = sub.add_parser("schemas", help="JSON Schema snapshots of the contracts")
    schemas.add_argument("action", choices=["export", "check"])
    schemas.set_defaults(handler=cmd_schemas, connects=False)

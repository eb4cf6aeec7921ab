"""`python -m agents.supervisor`: the same as `mesh supervisor run`."""

import sys

from mesh.cli.main import main

sys.exit(main(["supervisor", "run", *sys.argv[1:]]))

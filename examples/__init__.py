"""Example agents the README walks through; each runs with `mesh run examples.<name>:agent`."""

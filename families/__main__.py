"""`python -m families ingest <name>`: the DVC ingest stage's command (`medmaas ingest` does the same).

Apart from the CLI, so that the stage depends on the code it runs and on nothing above it.
"""

import argparse

import medmaas  # noqa: F401  (embedded defaults)
from families import export_bundled, known_families
from medmaas.environment import PROJECT_ROOT

parser = argparse.ArgumentParser(
    prog="python -m families", description="Export a family's bundled data set to data/raw/."
)
parser.add_argument("command", choices=["ingest"])
parser.add_argument("family", choices=known_families())
args = parser.parse_args()
print(f"wrote {export_bundled(args.family).relative_to(PROJECT_ROOT)}")

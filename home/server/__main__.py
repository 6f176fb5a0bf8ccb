"""`python -m home.server [--check]`: the production server (what `make serve` runs)."""

import sys

from home.server.serve import main

sys.exit(main(sys.argv[1:]))

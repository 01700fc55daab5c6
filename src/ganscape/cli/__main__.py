"""`python -m ganscape.cli`: the same as the `ganscape` command."""
import sys

from . import main

sys.exit(main())

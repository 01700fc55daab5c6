"""`python -m ganscape ...` (what torchrun's `-m ganscape train ...` runs): the `ganscape` command."""
import sys

from .cli import main

sys.exit(main())

"""`python -m ganscape ...` (what torchrun's `-m ganscape train ...` runs): the `ganscape` command.

Under torchrun (WORLD_SIZE > 1) the process ends with os._exit once the command has returned and its
output is flushed: the run is over and recorded by then, and gloo's C++ threads could otherwise abort
the interpreter's shutdown ("terminate called without an active exception", SIGABRT), which torchrun
would report as a failed rank (seen about 1 run in 6 under load, also after a barrier)."""
import os
import sys

from .cli import main

code = main()
if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 1)
sys.exit(code)

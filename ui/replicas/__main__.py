"""`python -m ui.replicas`: the launcher (see the package's docstring)."""

import os
import sys

from ui.replicas.launcher import ROOT, main

if __name__ == "__main__":  # the warm start imports every module of ui/, this one included
    os.chdir(ROOT)
    sys.exit(main())

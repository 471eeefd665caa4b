"""`python -m wmvla.cli …`: the same as the `wmvla` command."""

import sys

from wmvla.cli import main

sys.exit(main())

"""`python -m diodenet.host` is the `diodenet` command."""

import sys

from .cli import main

sys.exit(main())

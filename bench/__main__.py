"""``python -m bench``: every benchmark, written up in docs/benchmarks.md (see ``bench/all.py``)."""

import sys

from bench.all import main

sys.exit(main())

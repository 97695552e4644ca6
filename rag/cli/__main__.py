"""``python -m rag.cli``: the ``ragif`` command line."""
import sys

from rag.cli import main

sys.exit(main())

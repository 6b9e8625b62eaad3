"""`python -m lib_stylemix …` entry point."""

import sys

from lib_stylemix.cli import main

if __name__ == "__main__":
    sys.exit(main())

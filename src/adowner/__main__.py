import sys

from adowner.cli import main

sys.exit(main())

import sys

from intcap.cli import main

sys.exit(main())

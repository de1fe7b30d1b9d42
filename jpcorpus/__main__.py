import sys

from jpcorpus.cli import main

sys.exit(main())

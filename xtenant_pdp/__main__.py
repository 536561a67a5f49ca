import sys

from xtenant_pdp.cli import main

sys.exit(main())

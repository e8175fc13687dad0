import sys

from kdsam_core.cli import main

sys.exit(main())

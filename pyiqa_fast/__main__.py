import sys

from pyiqa_fast.cli import main

sys.exit(main())

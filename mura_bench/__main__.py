import sys

from mura_bench.cli import main

sys.exit(main())

import sys

from mura_bench.cli.main import main

sys.exit(main())

"""The speed benchmark (darknet_softmax/bench.py): `python benchmarks/bench.py --help`.

The harness lives in the package so that `darknet-softmax bench` runs it too."""

import sys

from darknet_softmax.bench import main

if __name__ == "__main__":
    sys.exit(main())

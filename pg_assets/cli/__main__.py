"""`python -m pg_assets.cli`: the same as the `pg-assets` console script."""

import sys

from pg_assets.cli import main

if __name__ == "__main__":  # importing this module (as a walk over the package does) runs nothing
    sys.exit(main())

"""`python -m gateway`: the `stablegate` command."""

from gateway.cli import main

raise SystemExit(main())

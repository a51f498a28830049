"""`python -m watcher`: run the watcher service (same as `stablegate serve watcher`)."""

from service_runtime.cli import main

raise SystemExit(main(["serve", "watcher"]))

"""`python -m watcher`: run the watcher service (same as `stablegate serve watcher`)."""

from service_runtime.server import main
from watcher.app import definition
from watcher.config import WatcherSettings

raise SystemExit(main(WatcherSettings, definition))

"""Shared chain code: the fault-tolerant JSON-RPC client and the chain data types the watcher and settlement read."""

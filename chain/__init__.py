"""Our contracts on an EVM chain: their compiled artifacts, a minimal JSON-RPC client, ABI coding, deployment.

Shared by the CLI (`stablegate chain deploy`), the local runner and, later, the watcher and settlement. Kept
small and dependency-free on purpose: JSON-RPC over urllib, ABI coding of the few types our contracts use.
"""

"""Chain code shared by the CLI, the local runner, the watcher and settlement.

Our contracts' compiled artifacts and their deployment (`build`, and what grows beside it), and the
fault-tolerant JSON-RPC client over several providers (`client`) with strictly parsed chain data (`types`).
"""

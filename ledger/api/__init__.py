"""The ledger's thin gRPC servicers: message → domain call → message."""

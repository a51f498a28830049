"""Thin gRPC servicers: message -> core call -> message."""

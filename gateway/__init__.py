"""The composition root: the `stablegate` CLI, the local runner behind `up`, codegen and the local parts.

It sits above every service and knows them all; `service_runtime` and the services never import it.
"""

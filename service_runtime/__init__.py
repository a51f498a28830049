"""service_runtime."""

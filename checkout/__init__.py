"""The hosted checkout page: what a customer sees and pays from, served through Envoy (docs/checkout.md)."""

"""Settlement's state in Postgres (schema `settlement`)."""

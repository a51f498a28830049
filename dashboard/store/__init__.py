"""The dashboard's state in Postgres (schema `dashboard`): users, email verifications, merchants' read keys."""

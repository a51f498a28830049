"""The dashboard: merchant sign-up, login (password + TOTP) and home page, server-rendered (docs/dashboard.md)."""

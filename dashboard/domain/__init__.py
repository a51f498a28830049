"""The dashboard's rules: what a valid sign-up is, and who may do what (plain code, no I/O)."""

"""The dashboard: the merchants' and operators' web app."""

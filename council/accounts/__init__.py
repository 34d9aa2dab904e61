"""Accounts, roles and sessions of staff and councillors."""

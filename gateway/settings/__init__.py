"""Settings saved at run time and the secrets that guard them: SMTP
settings, senders, SMTP AUTH logins, admin tokens, the vault for saved
passwords, password hashing.

May import: the store and the foundations only.
"""

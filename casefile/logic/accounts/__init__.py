"""Accounts: the people who use Casefile and how they prove who they are. Creating, disabling
and changing accounts, password hashing, two-factor (TOTP) secrets sealed at rest, one-time
recovery codes, browser sign-in sessions, API bearer tokens, the throttling of failed
attempts, and the security log that records every sign-in outcome."""

"""The domain: every rule and every transaction. Functions take a session and an actor."""

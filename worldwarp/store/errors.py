"""The one exception a store raises for anything a user can fix (bad path, mismatch, incomplete stage)."""


class StoreError(RuntimeError):
    """A run store cannot do what was asked; the message is one line naming the store and the problem."""

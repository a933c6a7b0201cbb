"""Subscribers and their subscriptions: double opt-in, the manage page, one-click unsubscribe."""

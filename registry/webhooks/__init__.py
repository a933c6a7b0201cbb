"""Webhooks: machine subscribers' endpoints, and the signed events posted to them."""

"""The admin API under /api/v1: JSON, bearer tokens, the same services as the admin pages."""

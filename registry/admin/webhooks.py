"""Admin pages of webhook endpoints."""

"""Account managers: users with roles, sign-in, and API tokens."""

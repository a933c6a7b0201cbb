"""The admin pages for account managers: dashboard, list editor, workflow, users, audit trail."""

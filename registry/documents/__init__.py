"""Policy documents (privacy policy, DPA...): Markdown revisions, announced ahead of time."""

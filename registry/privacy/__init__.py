"""Our own promises as a holder of personal data: subscribers' rights and retention periods."""

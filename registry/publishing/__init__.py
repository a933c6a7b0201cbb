"""The publication core: the rules that lists and documents share, written once.

A list's changes and a document's revisions reach readers through the same promise: announced
ahead of their effective date (the notice period, or a published short-notice justification),
approved by a second person where four eyes are on, withdrawable until they take effect,
corrected at once only when nothing widens, and applied by one job loop. The domains keep their
own tables and pages and call these rules; they never reach up to email or webhooks, but emit
``events`` that the notification side handles in the caller's transaction.

- ``rules``: texts, dates, four eyes, withdrawal and state conflicts.
- ``corrections``: what a correction may change.
- ``wording``: how a change and a notice read, everywhere they are shown.
- ``events``: what a publication tells the layers above it.
- ``jobs``: the loop that applies what is due.
- ``feeds``: what the feeds of both domains share.
"""

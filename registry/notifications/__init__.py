"""The outbox: notifications recorded with each notice and delivered over SMTP by the scheduler."""

"""Objections: a customer's objection to an announced change, before its objection deadline."""

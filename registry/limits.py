"""The lengths input may have, in one place: services refuse beyond them, and forms, the API
document and messages quote the same numbers, so no two of them can disagree."""

# RFC 5321 allows 254 characters in a forward path: a longer address can never receive a message.
MAX_EMAIL = 254
# One line that names something: a processor, a list's title, an organisation, a person.
MAX_NAME = 200
# A paragraph: a public reason, a processor's purpose, a note, a revision's summary.
MAX_TEXT = 2000
# Several paragraphs: a list's introduction, an objection's reason.
MAX_LONG_TEXT = 5000

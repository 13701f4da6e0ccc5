"""Chat models (conversations, consent periods and messages arrive with the chat feature)."""

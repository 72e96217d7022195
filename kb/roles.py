"""The roles a user can have, in a module of its own so the CLI can offer them without loading the models."""

ROLES = ("rep", "marketer", "admin")

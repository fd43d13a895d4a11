"""The teacher edition: reference solutions of the exercises. Not part of the installed kit."""

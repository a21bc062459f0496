"""The main job: every stage from a fresh machine to a trained, evaluated agent (`deepmmsearch main`)."""

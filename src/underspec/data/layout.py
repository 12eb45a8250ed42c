"""Names of the challenge layout, importable without numpy or pandas (the server uses them)."""

FORMAT = "underspec-challenge/1"
PARTICIPANT_FILES = ("X_labeled.npy", "y_labeled.npy", "X_unlabeled.npy", "X_val.npy")

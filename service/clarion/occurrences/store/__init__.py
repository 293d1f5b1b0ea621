"""The delivery store: every SQL statement the dispatcher runs, one module per step (claim, load, store, record, retain)."""

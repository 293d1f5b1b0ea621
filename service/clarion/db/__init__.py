"""Database access: engine selection from settings, table binding, migrations."""

"""Writing at the edge: all-or-nothing output files and folders, terminal text, progress, and the
regular-file checks on paths the user gives."""

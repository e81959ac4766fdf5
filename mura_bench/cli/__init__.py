"""The ``mura-bench`` command line: the click commands (``main``), help text, option types, and the
renderers of results and analyses as tables."""

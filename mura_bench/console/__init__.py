"""What every command shares: click option types and help texts, and the renderers of results and
analyses as text tables fitted to the terminal (used by ``mura-bench`` and its subcommands)."""

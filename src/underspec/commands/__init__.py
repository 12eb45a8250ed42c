"""The command groups of ``underspec``: each module adds its commands with ``add_parsers(sub)``
and runs each with a ``run_*`` function (parse, call the library, print; no logic of its own)."""

"""``python -m underspec`` runs the command-line interface."""

from underspec.cli import main

raise SystemExit(main())

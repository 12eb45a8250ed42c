"""The app's routes by area: ``api`` (the seed's ``/reveal/`` and ``/submit/``, JSON),
``pages`` (leaderboard and exercises for browsers) and ``account`` (register, log in and out)."""

"""The challenge leaderboard: database, rules (service), web app. Never imports torch."""

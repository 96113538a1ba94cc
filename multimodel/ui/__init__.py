"""The web UI: the arena, the leaderboard, the usage dashboard and a playground, served under /ui."""

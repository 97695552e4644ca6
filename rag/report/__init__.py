"""Reports from a results folder: leaderboards (Markdown, LaTeX, HTML), plots and plain tables."""

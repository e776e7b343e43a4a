"""Reference data: markets, their runs and time zones, and the instruments they publish."""

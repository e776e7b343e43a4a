"""Where facts live: the bitemporal time-series store and its engines."""

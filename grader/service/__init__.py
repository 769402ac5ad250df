"""``grade serve``: students submit over HTTP with a token of their own and read their results."""

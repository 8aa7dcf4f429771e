"""``power-director``: the command line (``app``: the parser and dispatch), one module per
command family (``demo``, ``sim``, ``results``, ``meter_agent``...)."""

"""The ground floor: formats and errors every package shares (drivers, bridge, director,
reports). Nothing here imports any of the four packages' logic; this ``__init__`` imports
nothing, and ``analyzer_drivers/__init__`` loads no driver, so ``import
analyzer_drivers.formats.x`` brings in only the ground floor."""

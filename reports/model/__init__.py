"""A session's report as typed, frozen objects (``report``), its headline number and verdict
(``headline``), and a session's record read from its directory (``results``)."""

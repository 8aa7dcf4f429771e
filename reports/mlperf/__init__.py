"""MLPerf's side: the ``power/`` layout MLCommons' tools read, the rules by round, the evidence
and PTDaemon logs, what MLCommons accepts (``checks``), and the submission tree."""

"""From directories to reports: a session of ours (``session_report``), an imported MLPerf run
(``mlperf_import``), a crashed session (``recovery``), several sessions side by side
(``compare``), a submission tree's power runs (``audit``)."""

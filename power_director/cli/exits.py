"""The command line's exit statuses: 0 only for a completed, valid measurement."""

EXIT_INVALID = 1  # measured, but the result is not valid
EXIT_ERROR = 2  # a bad input, a dead meter, a dropped connection: one line on stderr
EXIT_INTERNAL = 70  # a bug of ours (EX_SOFTWARE): one line, the raw data kept
EXIT_INTERRUPTED = 130  # SIGINT or SIGTERM

"""Reports for people, from the typed report: ``report.html``, the ``power.png`` plot, the
end-of-run summary."""

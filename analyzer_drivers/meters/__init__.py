"""One module per meter type behind the ``Analyzer`` interface, and the meters' range and accuracy
tables (``specs``)."""

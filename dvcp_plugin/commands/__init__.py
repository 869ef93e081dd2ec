"""Sub-commands of the ``dvcp`` command line, one module each."""

"""Sub-commands of the ``dvcp`` command line, one module each (``COMMANDS`` of :mod:`dvcp_plugin.cli`), and
the options of colouring as their flags (:mod:`.flags`)."""

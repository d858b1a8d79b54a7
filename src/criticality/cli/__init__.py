"""The ``criticality`` command line: one file per subcommand, assembled in :mod:`.main`."""

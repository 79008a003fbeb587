"""The ``screener`` command line. Each subcommand lives in its own module and is imported lazily."""

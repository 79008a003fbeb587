"""SQL over a run's results: DuckDB views and their sandbox, query files and parameters, export."""

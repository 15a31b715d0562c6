"""Orchestration: the Prefect flow ``worldwarp`` (deployment ``longshot``), tracking and the CLI."""

"""The application layer between the Dagster definitions (``defs/``) and the command line
(``cli.py``): how ``kenpo`` starts, watches and stops Dagster runs on the instance, and how it keeps
the instance healthy (``recovery``: runs whose process died, pool slots they still hold).
Plain functions over a ``DagsterInstance``; no printing (callers pass a ``say`` function)."""

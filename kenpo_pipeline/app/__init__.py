"""The application layer between the Dagster definitions (``defs/``) and the command line
(``cli.py``): what each ``kenpo`` command does, as functions that take typed inputs (and a progress
callback where work takes long), return typed reports and print nothing.

- ``runplan``: the run plan as pure functions, "what follows what" read from the asset graph;
- ``runner``: a plan executed through Dagster on the instance, progress events, the ``RunReport``;
- ``execution``: one run executed in this process (signals, pool-slot waits); ``recovery``: runs
  whose process died and the pool slots they hold;
- ``commands``: the other commands (report, show, finalize, backtest, validate, catalog check, db,
  demo, ui).

An expected failure is an ``AppError``: one Japanese sentence for a person and its exit status.
"""


class AppError(Exception):
    """An expected failure: ``str(error)`` is one Japanese sentence; ``exit_code`` 1."""

    exit_code = 1


class UsageError(AppError):
    """A command used wrongly (arguments, a missing folder): exit status 2."""

    exit_code = 2

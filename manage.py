#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalserver.settings")
    if sys.argv[1:2] == ["score"]:
        # The offline scorer uses no app, model or database: run it without
        # django.setup(), whose app loading and admin discovery were most of its start-up.
        # One scoring runs on one thread: OpenBLAS starting a thread per core at numpy's
        # import cost more CPU (about 0.1 s) than its matrix products save here (set by
        # the evalserver package, before numpy is imported).
        from evalserver.challenges.management.commands.score import Command

        Command().run_from_argv(sys.argv)
        return
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalserver.settings")
    if sys.argv[1:2] == ["score"]:
        # The offline scorer uses no app, model or database: run it without
        # django.setup(), whose app loading and admin discovery were most of its start-up.
        from evalserver.challenges.management.commands.score import Command

        Command().run_from_argv(sys.argv)
        return
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

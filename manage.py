#!/usr/bin/env python
import sys

from phoenix.core.devenv import development_environment_prepare


def main() -> None:
    # Development (no DATABASE_URL): the same generated keys and embedded services as `make run`.
    development_environment_prepare()
    from django.core.management import execute_from_command_line  # noqa: PLC0415  (after the settings are named)

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

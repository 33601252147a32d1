"""``python -m glifx``: the ``glifx`` command line (the same as the console script)."""

from glifx.cli import main

if __name__ == "__main__":
    main(prog_name="glifx")

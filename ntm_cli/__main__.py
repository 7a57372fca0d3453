"""``python -m ntm_cli`` runs the ``ntm`` command."""

from ntm_cli.cli import console

if __name__ == "__main__":
    console()

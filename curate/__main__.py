"""``python -m curate`` runs the command line."""

from curate.cli import main

if __name__ == "__main__":  # worker processes re-import this module as __mp_main__
    main()

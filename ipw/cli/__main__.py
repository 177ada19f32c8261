"""``python -m ipw.cli`` runs the ``ipw`` command."""

from . import main

main()

"""Run the ``empreinte`` command as ``python -m empreinte``."""

from empreinte.cli import main

raise SystemExit(main())

"""``python -m edgecascade ...``: the same as the ``edgecascade`` command."""

from edgecascade.cli import main

raise SystemExit(main())

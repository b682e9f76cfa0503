"""Allow ``python -m hubbub``."""

from hubbub.cli import main

raise SystemExit(main())

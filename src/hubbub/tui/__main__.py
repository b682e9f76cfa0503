"""``python -m hubbub.tui [HOST[:PORT]] ...``: the same as ``hubbub chat``."""

from hubbub.tui.cli import main

raise SystemExit(main())

"""C twins of hubbub's hottest pure-Python functions (built when a compiler is present)."""

def scan_block(
    data: bytes, head_len: int, new_head: bytes, room: int, /
) -> tuple[bytes, int] | None: ...

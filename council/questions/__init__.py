"""Question time (Einwohnerfragestunde) online: residents submit questions without an account, the
clerk moderates and schedules them, the console marks them answered live, and a private tracking link
shows each resident where their question stands. Privacy by design: only the token's hash, a name or
pseudonym and an optional e-mail are stored; personal data go when the resident asks or N days after
the question is closed (``service.purge``); IP addresses are never stored (``ratelimit``)."""

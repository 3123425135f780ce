"""Where a room is put together: its features, the pages it serves, and the process
that runs its parts."""

"""The room's core: its state, the command table, the controller and its features'
plug, the SQLite store, the bus (Clone pattern, CURVE keys), and the clients that mirror
and steer it."""

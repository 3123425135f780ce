"""The site service: the partner directory, presence and ringing for every room of a
site, the partner console, and the room's link to it."""

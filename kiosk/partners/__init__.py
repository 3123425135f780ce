"""Partners asked into the talk by video: consent, one-call links, admission, mute,
and the join link by mail."""

"""Remote counselling: appointments with a personal link by mail, the remote
client's waiting room, visit and survey."""

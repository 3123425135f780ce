"""The client's handout: the summary of the talk as a page, a PDF and a mail."""
